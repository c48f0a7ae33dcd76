"""The reading modes measured in real Chromium: the demo site and real pages, through the proxy.

Every page is served by a loopback upstream and read three ways: as the upstream sends it (the
original), through the proxy in the normal version, and through the proxy in each of the eight
reading modes. Chromium runs with JavaScript off for the measurements (the proxy adds no script
and the modes must work without one) and refuses every request that is not for loopback, so the
runs are the same offline. axe-core needs script to run, so it gets a browser of its own (on a
thread, checking a page while the main thread measures it) in which scripts may run but the
pages' own are stopped by a ``script-src 'none'`` policy added to each page response.

What is measured, per page and mode (the sizes against the normal version, the rest against the
original where the page itself may already fail):

- large font: the computed font size of every element holding visible text grows by the mode's
  factor (1.5 or 2), headings and body text alike, so their order is kept;
- colours: in blue and b/w every visible text reaches 7:1 on what is painted behind it, and
  links stay underlined;
- reflow: no horizontal scrolling at 1280 and at 320 CSS px where the original had none; line
  height at least 1.5, no justified text, at most 80 characters to a line of running text,
  no text newly spilling out of or cut off by a box of fixed height, none drawn over the
  toolbar;
- focus (demo pages, by tabbing): every stop shows an indicator at least 2 px thick whose
  pixels differ from the unfocused rendering by at least 3:1, an outline of 2 px or more
  whose colours contrast 3:1 with what is behind, and the toolbar never covers it;
- axe-core: no violation the original page lacks; none for colour contrast in blue and b/w
  on the demo site;
- the proxy's own script: none, and the page's scripts are the original ones.

The real pages come from the shared corpus (``A11Y_CORPUS_DIR``), read in place and never
copied. With the variable unset the corpus cases are skipped; set to a missing folder, they fail.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp import web
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, Route

from proxy.demo.app import create_demo_app
from proxy.rewriting import relative
from proxy.rewriting.modes import ALL_MODES, DEFAULT, Mode, Theme
from tests import measure
from tests.browser import Upstreams, chromium, running_proxy
from tests.conftest import free_port
from tests.test_stylesheets import composed_rules, palette
from tests.wcag import RGB, parse_color

pytestmark = pytest.mark.browser

CORPUS_ENV: Final = "A11Y_CORPUS_DIR"
REPORT_ENV: Final = "A11Y_REPORT_DIR"

DEMO_PAGES: Final = (
    "/",
    "/about.html",
    "/feedback.html",
    "/statistics.html",
    "/archive/2019.html",
    "/news/",
    "/news/elektronna-cherga.html",
    "/news/influenza-vaccination-campaign.html",
    "/news/mobile-diagnostic-units.html",
)
#: Real pages, each for what it brings.
CORPUS_PAGES: Final = {
    "mil-gov-ua-uk-news.html": "Ukrainian ministry news, px sizes, links positioned in the header",
    "mil-gov-ua-en-news.html": "its English twin, whose <base> names the ministry's own site",
    "rtl-1.html": "a right-to-left page",
    "wikipedia-4.html": "Wikipedia: infobox and navigation tables, a search form",
    "nytimes-3.html": "px-heavy news page: thousands of px sizes in <style> blocks",
    "bbc-1.html": "news with teaser titles cut to a fixed height",
    "heise.html": "German news whose <noscript> content is wider than the window",
    "la-nacion.html": "Spanish news with a navigation row wider than a phone",
    "tumblr.html": "a blog laid out with tables and <font size>",
    "table-style-attributes.html": "an old page of tables, <font> tags and style attributes",
    "medium-1.html": "a blog with buttons and fields at the browser's own 13.33 px",
}
#: The corpus page whose <base href> names this origin: the proxy is told it stands there, as
#: it would when deployed in front of that site, so the page's relative links (and the
#: proxy's own stylesheet link) resolve to the proxy.
CORPUS_SITE_ORIGIN: Final = "https://www.mil.gov.ua"

READING_MODES: Final = tuple(mode for mode in ALL_MODES if not mode.is_default)
THEMED_MODES: Final = tuple(mode for mode in ALL_MODES if mode.theme is not Theme.DEFAULT)
ENLARGED_MODES: Final = tuple(mode for mode in ALL_MODES if mode.scale != 100)
WIDE, NARROW, HEIGHT = 1280, 320, 900

TEXT_CONTRAST: Final = 7.0
NON_TEXT_CONTRAST: Final = 3.0
MIN_INDICATOR_PX: Final = 2
MIN_LINE_HEIGHT: Final = 1.5
MAX_MEASURE_CH: Final = 80.0
#: Tab stops visited per page at most: the demo pages have about thirty.
MAX_TAB_STOPS: Final = 80
#: Tab stops checked on a corpus page, which may have a thousand links.
CORPUS_TAB_STOPS: Final = 30
#: Room around a focused element in its screenshots: the ring reaches 7 px beyond it.
CLIP_PAD: Final = 14


# --- the sites -------------------------------------------------------------------------------


def _corpus_dir() -> Path | None:
    value = os.environ.get(CORPUS_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    # .ci/run gives it relative to the checkout.
    return path if path.is_absolute() else Path(__file__).resolve().parent.parent / path


def _corpus_app(folder: Path) -> web.Application:
    """The chosen corpus pages as their sites served them (all UTF-8 on disk)."""

    async def serve(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in CORPUS_PAGES:
            raise web.HTTPNotFound()
        body = await asyncio.to_thread((folder / name).read_bytes)
        return web.Response(body=body, content_type="text/html", charset="utf-8")

    app = web.Application()
    app.router.add_get("/{name}", serve)
    return app


@dataclass(frozen=True, slots=True)
class Target:
    """One page of one site: where the upstream serves it and where the proxy does."""

    site: str
    path: str

    @property
    def name(self) -> str:
        return f"{self.site}:{self.path}"


def _targets() -> Iterator[Any]:
    for path in DEMO_PAGES:
        yield pytest.param(Target("demo", path), id=f"demo:{path}")
    for name in CORPUS_PAGES:
        yield pytest.param(
            Target("corpus", "/" + name), id=f"corpus:{name}", marks=[pytest.mark.corpus]
        )


TARGETS: Final = list(_targets())
DEMO_TARGETS: Final = [param for param in TARGETS if param.values[0].site == "demo"]


# --- the browser -----------------------------------------------------------------------------


def _local_only(route: Route) -> None:
    if route.request.url.startswith("http://127.0.0.1:"):
        route.continue_()
    else:
        route.abort()


def _local_without_scripts(route: Route) -> None:
    """Loopback only, and every page with a policy that stops its own scripts."""
    request = route.request
    if not request.url.startswith("http://127.0.0.1:"):
        route.abort()
    elif request.resource_type == "document":
        response = route.fetch()
        headers = {**response.headers, "content-security-policy": "script-src 'none'"}
        route.fulfill(response=response, headers=headers)
    else:
        route.continue_()


def _static_context(browser: Browser) -> BrowserContext:
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": WIDE, "height": HEIGHT}
    )
    context.route("**/*", _local_only)
    return context


# --- one page surveyed -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scroll:
    """How far a page scrolls sideways at one window width, and what sticks out."""

    reach: float
    culprits: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    impact: str
    targets: tuple[str, ...]
    #: Each node's opening tag, as axe quotes it.
    snippets: tuple[str, ...]


@dataclass
class Render:
    """One page in one form, as Chromium laid it out with JavaScript off."""

    scroll: dict[int, Scroll]
    scripts: list[dict[str, Any]]
    texts: list[measure.Text] = field(default_factory=list)
    overflowing: dict[str, dict[str, Any]] = field(default_factory=dict)
    toolbar: measure.Box | None = None
    state: dict[str, Any] = field(default_factory=dict)
    axe: dict[str, Violation] = field(default_factory=dict)


@dataclass
class Survey:
    """A page read as the original and in every mode."""

    target: Target
    original: Render
    modes: dict[Mode, Render]


class AxeRunner:
    """axe-core in a browser of its own, on a thread of its own.

    It needs a context where script runs, the measurements one where it does not; on a
    second thread it checks a page while the main thread measures the same page.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[str, Future[dict[str, Violation]]] | None] = queue.Queue()
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> AxeRunner:
        self._thread.start()
        self._ready.result(120)
        return self

    def __exit__(self, *exc: object) -> None:
        self._jobs.put(None)
        self._thread.join(120)

    def submit(self, url: str) -> Future[dict[str, Violation]]:
        future: Future[dict[str, Violation]] = Future()
        self._jobs.put((url, future))
        return future

    def _run(self) -> None:
        try:
            with chromium() as browser:
                context = browser.new_context(viewport={"width": WIDE, "height": HEIGHT})
                context.route("**/*", _local_without_scripts)
                page = context.new_page()
                axe = Axe()
                self._ready.set_result(None)
                while (job := self._jobs.get()) is not None:
                    url, future = job
                    try:
                        future.set_result(_violations(page, axe, url))
                    except BaseException as error:  # handed to the test that waits for it
                        future.set_exception(error)
        except BaseException as error:
            if not self._ready.done():
                self._ready.set_exception(error)
            raise


def _violations(page: Page, axe: Axe, url: str) -> dict[str, Violation]:
    page.goto(url, wait_until="load")
    result: dict[str, Any] = axe.run(page).response
    return {
        item["id"]: Violation(
            item["id"],
            str(item["impact"]),
            tuple(" ".join(map(str, node["target"])) for node in item["nodes"]),
            tuple(node["html"].split(">", 1)[0] + ">" for node in item["nodes"]),
        )
        for item in result["violations"]
    }


class Surveyor:
    """Measures pages on demand, each once, for every test that asks."""

    def __init__(
        self, browser: Browser, origins: dict[str, tuple[str, str]], axe: AxeRunner
    ) -> None:
        self.origins = origins
        self.static = _static_context(browser)
        self.page = self.static.new_page()
        self.axe = axe
        self.done: dict[Target, Survey] = {}

    def close(self) -> None:
        self.static.close()

    def survey(self, target: Target) -> Survey:
        if target not in self.done:
            upstream, proxy = self.origins[target.site]
            original_url = upstream + target.path
            urls = {mode: f"{proxy}/_a11y/view/{mode.token}{target.path}" for mode in ALL_MODES}
            original_axe = self.axe.submit(original_url)
            axe = {mode: self.axe.submit(url) for mode, url in urls.items()}
            original = self._render(original_url, full=False)
            modes = {mode: self._render(url, full=True) for mode, url in urls.items()}
            original.axe = original_axe.result(300)
            for mode, render in modes.items():
                render.axe = axe[mode].result(300)
            self.done[target] = Survey(target, original, modes)
        return self.done[target]

    def _render(self, url: str, *, full: bool) -> Render:
        page = self.page
        page.set_viewport_size({"width": WIDE, "height": HEIGHT})
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, url
        render = Render(scroll={WIDE: self._scroll()}, scripts=page.evaluate(measure.SCRIPTS_JS))
        if full:
            render.texts = measure.texts(page.evaluate(measure.TEXT_JS))
            overflow = page.evaluate(measure.OVERFLOW_JS)
            render.overflowing = {item["path"]: item for item in overflow["overflowing"]}
            if overflow["toolbar"] is not None:
                render.toolbar = measure.Box(**overflow["toolbar"])
            render.state = page.evaluate(measure.STATE_JS)
        # A desktop window 320 px wide (no mobile emulation: the page's own viewport meta
        # cannot widen the layout, as it would on a phone).
        page.set_viewport_size({"width": NARROW, "height": HEIGHT})
        render.scroll[NARROW] = self._scroll()
        return render

    def _scroll(self) -> Scroll:
        raw = self.page.evaluate(measure.SCROLL_JS)
        return Scroll(float(raw["reach"]), tuple(raw["culprits"]))


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def origins() -> Iterator[dict[str, tuple[str, str]]]:
    """(upstream origin, proxy origin) per site; the corpus only when it is there."""
    folder = _corpus_dir()
    apps = [create_demo_app()]
    if folder is not None and folder.is_dir():
        apps.append(_corpus_app(folder))
    with Upstreams(*apps) as upstreams:
        demo_upstream = upstreams.origins[0]
        common = ["--workers", "1", "--rewrite-processes", "0"]
        with running_proxy(free_port(), ["--upstream", demo_upstream, *common]) as demo:
            sites = {"demo": (demo_upstream, demo)}
            if len(upstreams.origins) == 1:
                yield sites
                return
            corpus_upstream = upstreams.origins[1]
            args = ["--upstream", corpus_upstream, "--public-aliases", CORPUS_SITE_ORIGIN]
            with running_proxy(free_port(), [*args, *common]) as corpus:
                sites["corpus"] = (corpus_upstream, corpus)
                yield sites


@pytest.fixture(scope="module")
def surveyor(browser: Browser, origins: dict[str, tuple[str, str]]) -> Iterator[Surveyor]:
    with AxeRunner() as axe:
        found = Surveyor(browser, origins, axe)
        yield found
        _write_report(found.done.values())
        found.close()


@pytest.fixture
def survey(surveyor: Surveyor, request: pytest.FixtureRequest) -> Survey:
    target: Target = request.param
    if target.site == "corpus":
        _require_corpus(target)
    return surveyor.survey(target)


def _require_corpus(target: Target) -> None:
    folder = _corpus_dir()
    if folder is None:
        pytest.skip(f"{CORPUS_ENV} is not set: the corpus cases run in .ci/run")
    if not folder.is_dir():
        pytest.fail(f"{CORPUS_ENV} names {folder}, which is not a folder")
    if not (folder / target.path.lstrip("/")).is_file():
        pytest.fail(f"the corpus lacks {target.path.lstrip('/')}")


# --- large font ------------------------------------------------------------------------------


@pytest.mark.parametrize("survey", TARGETS, indirect=True)
def test_large_font_scales_every_visible_text(survey: Survey) -> None:
    normal = survey.modes[DEFAULT].texts
    assert normal, "no visible text measured"
    for mode in ENLARGED_MODES:
        factor = mode.scale / 100
        report = measure.size_ratios(normal, survey.modes[mode].texts, factor)
        assert report.unmatched == 0, f"{mode.token}: {report.unmatched} texts not found again"
        small = report.below(factor)
        assert not small, f"{mode.token}: " + "; ".join(
            f"{item.text!r} {item.normal}px -> {item.enlarged}px" for item in small[:5]
        )
        # Excuses (SVG text, sizes at the browser's floor) are listed in the report; the
        # demo site, made for this, needs none.
        if survey.target.site == "demo":
            assert not report.excused, f"{mode.token}: {report.excused[:3]}"


@pytest.mark.parametrize("survey", TARGETS, indirect=True)
def test_large_font_keeps_headings_larger_than_body_text(survey: Survey) -> None:
    """Sizes are scaled, not replaced by one size: any two texts keep their order."""
    normal = {item.path: item.size for item in survey.modes[DEFAULT].texts if not item.ours}
    for mode in ENLARGED_MODES:
        factor = mode.scale / 100
        by_size: dict[float, list[float]] = {}
        for item in survey.modes[mode].texts:
            # A text kept within the room its longest word has is out of the order on purpose.
            # So, the other way, is monospace text in such an element: Chromium sizes it at
            # 13/16 of a size that comes from the keyword "medium", and the cap's min() is not
            # one, so it takes its parent's size (as large as the text around it).
            expected = normal.get(item.path, 0) * factor
            held = item.capped and abs(item.size - expected) > 0.01
            if item.path in normal and not held:
                by_size.setdefault(normal[item.path], []).append(item.size)
        groups = [by_size[size] for size in sorted(by_size)]
        assert len(groups) > 1, "the page has one text size only"
        for smaller, larger in itertools.pairwise(groups):
            assert max(smaller) < min(larger), f"{mode.token}: {smaller} against {larger}"


# --- colours ---------------------------------------------------------------------------------


def _excuse(item: measure.Text) -> str | None:
    """Why a text's measured contrast is not the theme's, if it is not."""
    if item.image:
        return "a background picture lies behind it: the colour behind is unknown"
    if item.opacity < 1:
        return (
            f"its site dims it (opacity {item.opacity:.2f}); the theme keeps opacity, as "
            "forcing it to 1 would show what sites hide with opacity 0"
        )
    return None


@pytest.mark.parametrize("survey", TARGETS, indirect=True)
def test_themes_reach_aaa_contrast_on_every_visible_text(survey: Survey) -> None:
    demo = survey.target.site == "demo"
    for mode in THEMED_MODES:
        render = survey.modes[mode]
        low = []
        for item in render.texts:
            if item.contrast >= TEXT_CONTRAST - 0.005:
                continue
            excuse = _excuse(item)
            if excuse is None or demo:
                low.append(f"{item.text!r} {item.fg} on {item.bg}: {item.contrast:.2f}")
        assert not low, f"{mode.token}: " + "; ".join(low[:5])


@pytest.mark.parametrize("survey", TARGETS, indirect=True)
def test_themes_recolour_the_page_and_underline_links(survey: Survey) -> None:
    for mode in THEMED_MODES:
        render = survey.modes[mode]
        ground = parse_color(f"rgb{tuple(render.state['background'])}")
        expected = palette(composed_rules(mode))["--a11y-bg"]  # the scheme's own ground
        assert ground == parse_color(expected), mode.token
        bare = [
            item.text
            for item in render.texts
            if item.link and not item.ours and not item.underlined
        ]
        assert not bare, f"{mode.token}: links without underline: {bare[:5]}"


# --- reflow and readable text ----------------------------------------------------------------


#: Real pages that scroll sideways at 320 px in large text, and why CSS alone cannot mend it.
RUNS_ACROSS_ELEMENTS: Final = (
    "a word to the browser runs across elements with no space between them (links written "
    "</a><a>, a caption's 'Credit' label before the name, a button's labels side by side); "
    "the rule that makes a too-long word smaller reads words inside one text only"
)
SCROLLS_AT_320: Final = {
    "corpus:/la-nacion.html": RUNS_ACROSS_ELEMENTS,
    "corpus:/nytimes-3.html": RUNS_ACROSS_ELEMENTS,
    "corpus:/medium-1.html": RUNS_ACROSS_ELEMENTS,
}


@pytest.mark.parametrize("survey", TARGETS, indirect=True)
def test_no_horizontal_scrolling_where_the_original_had_none(survey: Survey) -> None:
    failures: list[str] = []
    for width in (WIDE, NARROW):
        if survey.original.scroll[width].reach > 0:
            continue  # the site's own layout: reported, not asserted
        for mode, render in survey.modes.items():
            scroll = render.scroll[width]
            excused = width == NARROW and mode.scale != 100
            if excused and survey.target.name in SCROLLS_AT_320:
                continue
                failures.append(
                    f"{mode.token} at {width}px scrolls {scroll.reach:.0f}px: {scroll.culprits[:2]}"
                )
    assert not failures, "; ".join(failures)


@pytest.mark.parametrize("survey", TARGETS, indirect=True)
def test_reading_modes_space_running_text_and_never_justify(survey: Survey) -> None:
    for mode in READING_MODES:
        problems = []
        for item in survey.modes[mode].texts:
            if item.ours:
                continue
            if item.justified:
                problems.append(f"{item.text!r} is justified")
            spacing = item.line_height
            if item.is_text_block and (
                spacing is None or spacing < MIN_LINE_HEIGHT * item.size - 0.5
            ):
                problems.append(f"{item.text!r}: line height {spacing} at {item.size}px")
            if item.is_running_text and item.measure > MAX_MEASURE_CH + 0.5:
                problems.append(f"{item.text!r}: {item.measure:.0f} characters to a line")
        assert not problems, f"{mode.token}: " + "; ".join(problems[:5])


@pytest.mark.parametrize("survey", TARGETS, indirect=True)
def test_grown_text_is_not_cut_off_nor_drawn_over_the_toolbar(survey: Survey) -> None:
    before = survey.modes[DEFAULT].overflowing
    for mode in READING_MODES:
        render = survey.modes[mode]
        spilled = [
            f"<{item['tag']}> {item['path']} height {item['height']} holds {item['content']}px"
            for path, item in render.overflowing.items()
            if path not in before
        ]
        assert not spilled, f"{mode.token}: fixed heights too small now: {spilled[:3]}"
        assert render.toolbar is not None
        toolbar = render.toolbar
        under = [
            item.text
            for item in render.texts
            if not item.ours and not item.out_of_flow and item.box.intersects(toolbar)
        ]
        assert not under, f"{mode.token}: text drawn over the toolbar: {under[:3]}"


# --- no script, no need for one --------------------------------------------------------------


@pytest.mark.parametrize("survey", TARGETS, indirect=True)
def test_the_proxy_adds_no_script_and_keeps_the_pages_own(
    survey: Survey, surveyor: Surveyor
) -> None:
    upstream, proxy = surveyor.origins[survey.target.site]

    def listed(render: Render, *, original: bool) -> list[tuple[Any, ...]]:
        found = []
        for script in render.scripts:
            src = script["src"]
            if original and src is not None and src.startswith(upstream):
                src = proxy + src[len(upstream) :]  # the proxy points these at itself
            found.append((src, script["type"], script["length"]))
        return found

    def same(kept: tuple[Any, ...], was: tuple[Any, ...]) -> bool:
        # A relative src is made path-absolute (unless a <base> decides), so every mode loads
        # the script from one URL.
        src, was_src = kept[0], was[0]
        moved = was_src is not None and src == relative.resolve(survey.target.path, was_src)
        return kept[1:] == was[1:] and (src == was_src or moved)

    expected = listed(survey.original, original=True)
    for mode, render in survey.modes.items():
        assert not [script for script in render.scripts if script["ours"]], mode.token
        found = listed(render, original=False)
        assert len(found) == len(expected), mode.token
        assert all(map(same, found, expected)), (mode.token, found, expected)


@pytest.mark.parametrize("survey", TARGETS, indirect=True)
def test_every_mode_works_with_javascript_off(survey: Survey) -> None:
    for mode, render in survey.modes.items():
        state = render.state
        assert state["sheet"], f"{mode.token}: the mode stylesheet did not load"
        controls = state["controls"]
        assert len(controls) == 6 and all(
            href.startswith(("/_a11y/view/", "/_a11y/share/")) and href.endswith(survey.target.path)
            for href in controls
        ), controls
        on = (mode.scale != 100) + (mode.theme is not Theme.DEFAULT)
        assert state["current"] == max(on, 1), mode.token  # else "normal version" is current
        assert state["scale"] == ("" if mode.scale == 100 else mode.factor), mode.token


# --- focus -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stop:
    """One tab stop: the focused element as computed and, if taken, its ring in pixels."""

    focused: measure.Focused
    ring: dict[str, int | None] | None


_REFOCUS_JS: Final = (
    "(path) => {"
    + measure.PRELUDE
    + """
  for (const el of document.querySelectorAll('*')) {
    if (pathOf(el) === path) { el.focus(); return true; }
  }
  return false;
}"""
)


def _capture(cdp: Any, clip: dict[str, float]) -> measure.Image:
    # The DevTools call, not page.screenshot: about five times faster for small clips.
    shot = cdp.send(
        "Page.captureScreenshot",
        {"format": "png", "clip": {**clip, "scale": 1}, "optimizeForSpeed": True},
    )
    return measure.decode_png(base64.b64decode(shot["data"]))


def tab_through(page: Page, cdp: Any, *, limit: int, pixels: bool) -> list[Stop]:
    """Press Tab until focus leaves the page or comes back round; measure each stop."""
    stops: list[Stop] = []
    seen: set[str] = set()
    for _ in range(limit):
        page.keyboard.press("Tab")
        raw = page.evaluate(measure.FOCUS_JS)
        if raw is None:
            break
        focused = measure.focused(raw)
        if focused.path in seen:
            break
        seen.add(focused.path)
        ring = None
        if pixels and focused.shown:
            area = focused.page
            left, top = max(0.0, area.x - CLIP_PAD), max(0.0, area.y - CLIP_PAD)
            clip = {
                "x": left,
                "y": top,
                "width": area.x + area.w + CLIP_PAD - left,
                "height": area.y + area.h + CLIP_PAD - top,
            }
            shown = _capture(cdp, clip)
            page.evaluate("() => document.activeElement.blur()")
            plain = _capture(cdp, clip)
            assert page.evaluate(_REFOCUS_JS, focused.path)
            # The fragments are in window coordinates; the clip is in the page's.
            dx, dy = left - (area.x - focused.view.x), top - (area.y - focused.view.y)
            fragments = [
                measure.Box(box.x - dx, box.y - dy, box.w, box.h) for box in focused.fragments
            ]
            ring = measure.ring_thickness(shown, plain, fragments)
        stops.append(Stop(focused, ring))
    return stops


def _focus_problems(stops: list[Stop], mode: Mode) -> list[str]:
    problems = []
    for stop in stops:
        focused = stop.focused
        name = f"<{focused.tag}> {focused.label!r}"
        if focused.under_toolbar:
            problems.append(f"{name} is under the toolbar")
        if mode.is_default and not focused.ours:
            continue  # the normal version keeps the site's own focus style
        if not focused.shown:
            continue  # kept out of sight by its site even with focus, as on the original
        if focused.outline_style in ("none", "hidden") or focused.outline_width < MIN_INDICATOR_PX:
            problems.append(f"{name}: outline {focused.outline_style} {focused.outline_width}px")
        contrast = focused.indicator_contrast()
        if contrast < NON_TEXT_CONTRAST:
            problems.append(f"{name}: indicator contrast {contrast:.2f}")
        if stop.ring is not None:
            thin = {side: px for side, px in stop.ring.items() if px is not None}
            if not thin or min(thin.values()) < MIN_INDICATOR_PX:
                problems.append(f"{name}: changed pixels per side {stop.ring}")
    return problems


def _pixel_mode(index: int) -> Mode:
    """The reading mode tabbed through with pixels on the index-th demo page: all eight are,
    across the nine pages."""
    return READING_MODES[index % len(READING_MODES)]


def focus_each(page: Page, limit: int) -> list[Stop]:
    """Every element Tab reaches, focused in turn by script: the computed checks only."""
    return [Stop(measure.focused(raw), None) for raw in page.evaluate(measure.FOCUS_EACH_JS, limit)]


@pytest.mark.parametrize(
    ("index", "path"), list(enumerate(DEMO_PAGES)), ids=[f"demo:{path}" for path in DEMO_PAGES]
)
def test_focus_is_always_visible_on_the_demo_site(
    surveyor: Surveyor, index: int, path: str
) -> None:
    """Tab through the page in one reading mode comparing pixels, check every mode as
    computed; on the normal version only the toolbar must not hide the page's focus."""
    _, proxy = surveyor.origins["demo"]
    page = surveyor.static.new_page()
    cdp = surveyor.static.new_cdp_session(page)
    try:
        for mode in ALL_MODES:
            page.goto(f"{proxy}/_a11y/view/{mode.token}{path}")
            if mode == _pixel_mode(index):
                stops = tab_through(page, cdp, limit=MAX_TAB_STOPS, pixels=True)
                reachable = focus_each(page, MAX_TAB_STOPS)
                # Tabbing reached every element that can take focus, and no other.
                assert {stop.focused.path for stop in stops} == {
                    stop.focused.path for stop in reachable
                }, mode.token
            else:
                stops = focus_each(page, MAX_TAB_STOPS)
            assert len(stops) >= 7, f"{mode.token}: only {len(stops)} tab stops"
            assert all(stop.focused.shown for stop in stops), mode.token
            problems = _focus_problems(stops, mode)
            assert not problems, f"{mode.token}: " + "; ".join(problems[:5])
    finally:
        page.close()


CORPUS_FOCUS_MODES: Final = (Mode(Theme.DEFAULT, 150), Mode(Theme.BLUE, 200), Mode(Theme.BW, 100))


@pytest.mark.corpus
@pytest.mark.parametrize("name", list(CORPUS_PAGES), ids=[f"corpus:{n}" for n in CORPUS_PAGES])
def test_focus_indicators_on_real_pages(surveyor: Surveyor, name: str) -> None:
    """The first tab stops of each real page, one mode per theme, as computed."""
    _require_corpus(Target("corpus", "/" + name))
    _, proxy = surveyor.origins["corpus"]
    page = surveyor.static.new_page()
    try:
        for mode in CORPUS_FOCUS_MODES:
            page.goto(f"{proxy}/_a11y/view/{mode.token}/{name}")
            stops = focus_each(page, CORPUS_TAB_STOPS)
            assert stops, mode.token
            problems = _focus_problems(stops, mode)
            assert not problems, f"{mode.token}: " + "; ".join(problems[:5])
    finally:
        page.close()


# --- axe-core --------------------------------------------------------------------------------


def _skip_link(snippet: str) -> bool:
    return snippet.startswith("<a ") and ' href="#' in snippet


def _added(original: dict[str, Violation], proxied: dict[str, Violation]) -> dict[str, int]:
    """Nodes per rule that the proxied page has beyond the original's count."""
    added = {}
    for rule, violation in proxied.items():
        count = len(violation.targets)
        if rule == "region":
            # By design: the toolbar is the first element of <body>, so a reader reaches the
            # mode controls first; axe then no longer counts the page's skip link, which now
            # follows it, as a skip link, and reports it outside a landmark.
            count -= sum(map(_skip_link, violation.snippets))
        before = len(original[rule].targets) if rule in original else 0
        if count > before:
            added[rule] = count - before
    return added


@pytest.mark.parametrize("survey", TARGETS, indirect=True)
def test_axe_finds_nothing_the_original_page_lacks(survey: Survey) -> None:
    for mode, render in survey.modes.items():
        added = _added(survey.original.axe, render.axe)
        assert not added, f"{mode.token}: " + "; ".join(
            f"{rule} +{count}: {render.axe[rule].targets[:3]}" for rule, count in added.items()
        )


@pytest.mark.parametrize("survey", DEMO_TARGETS, indirect=True)
def test_axe_finds_no_contrast_failure_in_blue_and_bw_on_the_demo_site(survey: Survey) -> None:
    assert "color-contrast" in survey.original.axe  # the demo's greys really fail
    for mode in THEMED_MODES:
        violation = survey.modes[mode].axe.get("color-contrast")
        assert violation is None, f"{mode.token}: {violation}"


# --- the report ------------------------------------------------------------------------------


def _write_report(surveys: Any) -> None:
    """Per mode: axe counts, the smallest contrast and size ratios, pages that still scroll."""
    folder = os.environ.get(REPORT_ENV)
    done: list[Survey] = list(surveys)
    if not folder or not done:
        return
    report: dict[str, Any] = {"pages": [survey.target.name for survey in done], "modes": {}}
    for mode in ALL_MODES:
        entry: dict[str, Any] = {"axe": {}, "scrolling": []}
        for survey in done:
            render = survey.modes[mode]
            rules = set(survey.original.axe) | set(render.axe)
            for rule in sorted(rules):
                counts = entry["axe"].setdefault(rule, [0, 0])
                counts[0] += (
                    len(survey.original.axe[rule].targets) if rule in survey.original.axe else 0
                )
                counts[1] += len(render.axe[rule].targets) if rule in render.axe else 0
            for width, scroll in render.scroll.items():
                if scroll.reach > 0:
                    entry["scrolling"].append(
                        {
                            "page": survey.target.name,
                            "width": width,
                            "by": scroll.reach,
                            "original_by": survey.original.scroll[width].reach,
                            "culprits": list(scroll.culprits[:3]),
                        }
                    )
        # In the site's own colours (the default theme) the smallest is the site's.
        texts = [(survey, item) for survey in done for item in survey.modes[mode].texts]
        plain = [pair for pair in texts if _excuse(pair[1]) is None]
        for key, found in (("smallest_contrast", texts), ("not_excused", plain)):
            if found:
                entry[key] = _contrast_entry(*min(found, key=lambda pair: pair[1].contrast))
        if mode.scale != 100:
            ratios = []
            for survey in done:
                sizes = measure.size_ratios(
                    survey.modes[DEFAULT].texts, survey.modes[mode].texts, mode.scale / 100
                )
                ratios += [(survey, ratio) for ratio in sizes.ratios]
                entry.setdefault("excused_sizes", []).extend(
                    {
                        "page": survey.target.name,
                        "text": ratio.text,
                        "ratio": ratio.ratio,
                        "why": why,
                    }
                    for ratio, why in sizes.excused
                )
            if ratios:
                survey, ratio = min(ratios, key=lambda pair: pair[1].ratio)
                entry["smallest_size_ratio"] = {
                    "page": survey.target.name,
                    "text": ratio.text,
                    "ratio": round(ratio.ratio, 3),
                }
        report["modes"][mode.token] = entry
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    (path / "browser-modes.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))


def _contrast_entry(survey: Survey, item: measure.Text) -> dict[str, Any]:
    return {
        "page": survey.target.name,
        "text": item.text,
        "ratio": round(item.contrast, 2),
        "colours": [_hex(item.fg), _hex(item.bg)],
        "excuse": _excuse(item),
    }


def _hex(colour: RGB) -> str:
    return "#" + "".join(f"{channel:02x}" for channel in colour)
