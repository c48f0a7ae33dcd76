"""Real-world pages through the real proxy: in every mode, nothing of the page is lost.

The pages live outside the project (``../shared/corpus/real`` beside a checkout) and belong to
their publishers, so they are read from the folder named by ``A11Y_CORPUS_DIR`` and never
copied. Unset, this module is skipped; set to a folder that is not there, it fails.

How links are checked: every page is served by a loopback upstream whose origin the page never
mentions, so through the proxy every URL in it is a link to another site and must come out
exactly as written. Whether links to the page's *own* site are mapped is checked with the pure
rewriter, given the page's real origin (its canonical URL, else the host most of its links go
to) as the upstream: the page is never edited to fit the test.

A page is read back with the standard library's tokenizer (see ``corpus_report``) and, for the
structure a browser builds, with headless Chromium; scripts are off in Chromium so both renders
of a page are equally static, and every request that is not for loopback is refused so both are
equally without the publisher's assets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import lxml.html
import pytest
from aiohttp import web
from yarl import URL

from proxy.rewriting.links import LinkMap
from proxy.rewriting.modes import ALL_MODES, DEFAULT, Mode
from proxy.rewriting.rewrite import MAX_BYTES, MAX_TAGS, Rules, rewrite
from proxy.rewriting.toolbar import MARK, RETURN_ID, TOOLBAR_ID, head_links, mode_link, toolbar
from proxy.server.app import create_app
from proxy.server.config import Settings
from tests.conftest import free_port
from tests.corpus_report import (
    MAPPED,
    RIGHT_TO_LEFT,
    Comparison,
    Element,
    Origin,
    Report,
    compare,
    compare_elements,
    home_origin,
    opcodes,
    outline,
    scripts_of,
    split_ours,
)

pytestmark = pytest.mark.corpus

ENV: Final = "A11Y_CORPUS_DIR"
REPORT_ENV: Final = "A11Y_REPORT_DIR"
PREFIX: Final = "/_a11y/"
#: Growth allowed beyond the proxy's own elements (toolbar, links, font companions, word marks):
#: 4 KB, or 1 % of a big page, whose inline styles the modes follow (sizes, columns, paint).
GROWTH_LIMIT: Final = 4096
GROWTH_SHARE: Final = 0.01
#: Pages compared as screenshots: picture/source, SVG, late <body> attributes, <noembed>,
#: MathML, a <template> and <base>, Cyrillic, Chinese, right-to-left text.
SCREENSHOT_PAGES: Final = (
    "dropbox-blog.html",
    "breitbart.html",
    "buzzfeed-1.html",
    "mathjax.html",
    "wikipedia-4.html",
    "mil-gov-ua-uk-news.html",
    "qq.html",
    "rtl-1.html",
)
#: Share of pixels allowed to differ between the original and the proxied render.
PIXEL_TOLERANCE: Final = 0.002
#: Pages that differ by more, and why. Chromium keeps a text sized in % or em of its parent
#: at 6 px at least, but not one sized by min(), which is how a relative size keeps to the
#: room its longest word has (proxy/rewriting/css.py): MathJax's third-level fraction is 5.8 px.
PIXEL_EXCUSES: Final = {
    "mathjax.html": (0.01, "a nested fraction under 6 px is 1 px shorter; what follows moves"),
}
VIEWPORT: Final = {"width": 1280, "height": 1800}
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-proxy-server",
]


def _corpus_dir() -> Path | None:
    value = os.environ.get(ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    # .ci/run gives it relative to the checkout, which is where the tests are found from.
    return path if path.is_absolute() else Path(__file__).resolve().parent.parent / path


CORPUS: Final = _corpus_dir()
if CORPUS is None:
    pytest.skip(
        f"{ENV} is not set: the real-world corpus suite runs in .ci/run "
        "(set it to the corpus folder to run it here)",
        allow_module_level=True,
    )
PAGES: Final = sorted(p.name for p in CORPUS.glob("*.html")) if CORPUS.is_dir() else []


@dataclass(frozen=True, slots=True)
class Case:
    """One page as the upstream serves it."""

    name: str
    path: str
    body: bytes
    content_type: str
    codec: str

    @property
    def text(self) -> str:
        """The page as a browser decodes it (a UTF-8 byte order mark is not text)."""
        return self.body.decode(self.codec).removeprefix("\ufeff")


def _utf8_case(name: str) -> Case:
    assert CORPUS is not None
    body = (CORPUS / name).read_bytes()
    # Every page of the corpus is UTF-8 on disk, whatever its <meta> says: that is the charset
    # its bytes need, so the header says it, as the publisher's server must have.
    return Case(name, "/" + name, body, "text/html; charset=utf-8", "utf-8")


def _legacy_cases() -> list[Case]:
    """Pages in the legacy charsets their languages used, decoded by the proxy, not the test."""
    cases = []
    if "qq.html" in PAGES:
        text = _utf8_case("qq.html").text
        # The page declares gb2312 in a <meta>: served with no charset in the header, the
        # proxy must find it there and decode it as browsers do (as GB18030).
        cases.append(
            Case("qq.html", "/gb18030/qq.html", text.encode("gb18030"), "text/html", "gb18030")
        )
    if "mil-gov-ua-uk-news.html" in PAGES:
        text = _utf8_case("mil-gov-ua-uk-news.html").text
        body = text.encode("cp1251", "xmlcharrefreplace")
        cases.append(
            Case(
                "mil-gov-ua-uk-news.html",
                "/cp1251/mil-gov-ua-uk-news.html",
                body,
                "text/html; charset=windows-1251",
                "cp1251",
            )
        )
    return cases


CASES: Final = {case.path: case for case in [*map(_utf8_case, PAGES), *_legacy_cases()]}


# -- the upstream and the proxy, on loopback, on a thread of their own -----------------------


class Servers:
    """The corpus upstream and the real proxy in front of it, run on their own event loop.

    The tests and Chromium are synchronous; a thread keeps one proxy (and its page cache)
    alive for the whole module, so each page is rewritten once and its other modes are slot
    fills, as in production.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runners: list[web.AppRunner] = []
        self.upstream = URL.build(scheme="http", host="127.0.0.1", port=free_port())
        self.proxy = URL.build(scheme="http", host="127.0.0.1", port=free_port())

    def __enter__(self) -> Servers:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()

    async def _start(self) -> None:
        settings = Settings(
            upstream=self.upstream,
            public_url=self.proxy,
            port=self.proxy.port or 0,
            rewrite_processes=0,
        )
        for app, url in ((_upstream_app(), self.upstream), (create_app(settings), self.proxy)):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", url.port).start()
            self.runners.append(runner)

    async def _stop(self) -> None:
        for runner in reversed(self.runners):
            await runner.cleanup()


def _upstream_app() -> web.Application:
    async def page(request: web.Request) -> web.Response:
        case = CASES.get(request.path)
        if case is None:
            raise web.HTTPNotFound()
        response = web.Response(body=case.body, headers={"Cache-Control": "max-age=3600"})
        response.headers["Content-Type"] = case.content_type
        return response

    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    return app


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int
    content_type: str
    body: bytes


# Environment proxies must not see loopback requests.
_OPENER: Final = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str) -> Fetched:
    try:
        with _OPENER.open(url, timeout=60) as response:
            return Fetched(response.status, response.headers["Content-Type"], response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return Fetched(exc.code, exc.headers.get("Content-Type", ""), exc.read())


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    with Servers() as running:
        yield running


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    collected = Report()
    collected.notes += [
        "Through the proxy every page is served by a loopback upstream it never links to, so "
        "every URL must come out as written; 'mapped links' counts the URLs to the page's own "
        "site (canonical, og:url, else its commonest link host) that the pure rewriter, given "
        "that site as the upstream, pointed at the proxy.",
        "Text, element sequence, attributes, comments and <script>/<style>/<template> bodies "
        "are compared on the standard library's tokenizer; the tree, node by node, in "
        "Chromium (scripts off, only loopback reachable), for every page.",
        "Growth beyond the proxy's own elements must stay under "
        f"{GROWTH_LIMIT} bytes or {GROWTH_SHARE:.0%} of the page; the proxy's own are the "
        "toolbar, the link back to it, the head links, the word marks and the font-size "
        "companions ('fonts'), which follow the size of the page's inline CSS.",
        "lxml writes SVG/MathML attribute and element names in lower case (viewbox); the "
        "browser's parser restores the case (viewBox), which the DOM check compares as built.",
        f"Limits: rewrite() leaves pages over {MAX_BYTES // 2**20} MiB or with more than "
        f"{MAX_TAGS} '<' to the proxy to relay (None); the proxy's --max-html-bytes (8 MiB by "
        "default) relays larger pages before that.",
    ]
    yield collected
    directory = os.environ.get(REPORT_ENV)
    where = Path(directory) if directory else tmp_path_factory.mktemp("corpus-report")
    path = collected.write(where)
    print(f"\ncorpus report written to {path}")


# -- the folder itself -----------------------------------------------------------------------


def test_the_corpus_folder_is_there() -> None:
    assert CORPUS is not None
    assert CORPUS.is_dir(), f"{ENV} names {CORPUS}, which is not a folder"
    assert PAGES, f"{ENV} names {CORPUS}, which holds no .html pages"


def test_the_corpus_covers_the_writing_systems_it_is_meant_to() -> None:
    # Non-ASCII text is checked page by page; this says the corpus gives that check something
    # in each writing system the project promises to keep.
    seen = {script for case in CASES.values() for script in scripts_of(case.text)}
    assert {"Cyrillic", "Han", "accented Latin"} <= seen
    assert seen & RIGHT_TO_LEFT


# -- every page, every mode, through the proxy ----------------------------------------------


@pytest.mark.parametrize("path", list(CASES))
def test_every_mode_keeps_the_whole_page(path: str, servers: Servers, report: Report) -> None:
    case = CASES[path]
    upstream = outline(case.text)
    public = str(servers.proxy)
    local = Origin.of(str(servers.upstream))
    row = report.row(_label(case))
    # Modes differ only in the proxy's own elements; the rest of the page is compared with the
    # upstream once for every distinct text (in practice once: same bytes, same outcome).
    compared: dict[str, Comparison] = {}
    for mode in ALL_MODES:
        fetched = fetch(public + mode_link(PREFIX, mode, case.path))
        assert fetched.status == 200, f"{mode.token}: {fetched.status}"
        assert fetched.content_type == "text/html; charset=utf-8"
        html = fetched.body.decode("utf-8")  # strict: the page is sent as UTF-8

        # What a browser needs of ours: one toolbar, first in the body; one stylesheet of the
        # mode, in the head.
        document = lxml.html.document_fromstring(fetched.body)
        marked = [e for e in document.iter() if e.get(MARK) is not None]
        bars = [e for e in marked if e.get(MARK) == "toolbar"]
        sheets = [e for e in marked if e.get(MARK) == "stylesheet"]
        body, head = document.find("body"), document.find("head")
        assert len(bars) == 1 and bars[0].get("id") == TOOLBAR_ID, mode.token
        assert body is not None and body[0] is bars[0], f"{mode.token}: toolbar not first"
        assert len(sheets) == 1 and f"/{mode.token}.css" in (sheets[0].get("href") or "")
        assert sheets[0].getparent() is head, f"{mode.token}: stylesheet not in <head>"

        rest, ours = split_ours(html)
        kinds = [one.kind for one in ours]
        assert kinds.count("toolbar") == 1 and kinds.count("stylesheet") == 1, mode.token
        assert set(kinds) <= {"toolbar", "stylesheet", "canonical", "charset", "fonts"} | {
            "return",
            "viewport",
            "word",
        }
        if rest not in compared:
            out = outline(html)
            compared[rest] = compare(upstream, out, home=local, public=public, path=case.path)
            assert scripts_of(out.text) == scripts_of(upstream.text)
        result = compared[rest]
        assert not result.failures, _failed(case, mode, result)

        extra = len(rest.encode()) - len(case.text.encode())
        limit = max(GROWTH_LIMIT, int(len(case.text.encode()) * GROWTH_SHARE))
        assert extra <= limit, f"{mode.token}: {extra} bytes beyond the proxy's own"
        if mode == DEFAULT:
            row.size = len(case.body)
            row.served_growth = len(fetched.body) - len(case.text.encode())
            row.companions = sum(one.nbytes for one in ours if one.kind == "fonts")
            row.allowances.update(result.allowed)
            row.scripts = ", ".join(scripts_of(upstream.text))


def _label(case: Case) -> str:
    if case.path == "/" + case.name:
        return case.name
    return f"{case.name} as {case.codec}"


def _failed(case: Case, mode: Mode, result: Comparison) -> str:
    return f"{_label(case)} in {mode.token}:\n  " + "\n  ".join(result.failures)


# -- the pure rewriter on each page's own origin -----------------------------------------------

PUBLIC: Final = "https://a11y.example.test"


@pytest.mark.parametrize("name", PAGES)
def test_links_to_the_pages_own_site_point_at_the_proxy(name: str, report: Report) -> None:
    case = _utf8_case(name)
    upstream = outline(case.text)
    home = home_origin(upstream)
    own = URL(str(home)) if home is not None else URL("http://upstream.invalid")
    rules = Rules(LinkMap(own, URL(PUBLIC)))

    started = time.perf_counter()
    page = rewrite(case.body, "utf-8", rules)
    elapsed = time.perf_counter() - started
    assert page is not None
    html = page.render(head_links(f"{PREFIX}css/x.css", None), toolbar(DEFAULT, "/", "", PREFIX))

    result = compare(upstream, outline(html.decode()), home=home, public=PUBLIC)
    assert not result.failures, _failed(case, DEFAULT, result)
    row = report.row(name)
    row.size = len(case.body)
    row.rewrite_ms = elapsed * 1000
    row.growth = len(html) - len(case.body)
    row.home = str(home) if home is not None else ""
    row.mapped = result.allowed[MAPPED]

    # Rewriting the proxy's own output changes nothing: no second toolbar, sheet or companion.
    again = rewrite(html, "utf-8", rules)
    assert again is not None
    assert (
        again.render(head_links(f"{PREFIX}css/x.css", None), toolbar(DEFAULT, "/", "", PREFIX))
        == html
    )


# -- what a browser builds and shows -----------------------------------------------------------

# Every node a browser builds, in order, one line each: depth, name, then its attributes or its
# text as JSON; the proxy's own elements are left out, a <template>'s content is walked as if it
# were children. One string crosses from the browser: lines that match need no decoding.
_DOM_WALK: Final = """(mark) => {
  const lines = [];
  const walk = (node, depth) => {
    for (const child of node.childNodes) {
      if (child.nodeType === 1) {
        if (child.hasAttribute(mark)) continue;
        const attrs = {};
        for (const a of child.attributes) attrs[a.name] = a.value;
        lines.push(depth + '\\t' + child.tagName + '\\t' + JSON.stringify(attrs));
        walk(child.tagName === 'TEMPLATE' ? child.content : child, depth + 1);
      } else if (child.nodeType === 3) {
        const text = child.data.replace(/[\\t\\n\\f\\r ]+/g, ' ').trim();
        if (text) lines.push(depth + '\\t#text\\t' + JSON.stringify(text));
      }
    }
  };
  walk(document, 0);
  return lines.join('\\n');
}"""
_HIDE_OURS: Final = """(ids) => {
  const style = document.createElement('style');
  style.textContent = ids.map((id) => '#' + id).join(',') + '{display:none!important}';
  document.head.append(style);
}"""
# Share of pixels that differ by more than a little in any channel (anti-aliasing aside).
_PIXEL_DIFF: Final = """async ([a, b]) => {
  const load = (src) => new Promise((ok, fail) => {
    const image = new Image(); image.onload = () => ok(image); image.onerror = fail; image.src = src;
  });
  const [one, other] = await Promise.all([load(a), load(b)]);
  if (one.width !== other.width || one.height !== other.height) return 1;
  const pixels = (image) => {
    const canvas = new OffscreenCanvas(image.width, image.height);
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    return context.getImageData(0, 0, image.width, image.height).data;
  };
  const [p, q] = [pixels(one), pixels(other)];
  let differ = 0;
  for (let i = 0; i < p.length; i += 4) {
    if (Math.abs(p[i] - q[i]) > 24 || Math.abs(p[i + 1] - q[i + 1]) > 24 ||
        Math.abs(p[i + 2] - q[i + 2]) > 24) differ++;
  }
  return differ / (p.length / 4);
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.fail("the corpus suite needs Chromium (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def static_page(browser: Any) -> Iterator[Any]:
    """A tab with scripts off that can reach nothing but loopback."""
    context = browser.new_context(java_script_enabled=False, viewport=VIEWPORT)
    context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/])"), lambda route: route.abort())
    page = context.new_page()
    yield page
    context.close()


def _dom(page: Any, url: str) -> list[str]:
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    lines: str = page.evaluate(_DOM_WALK, MARK)
    return lines.split("\n")


@pytest.mark.browser
@pytest.mark.parametrize("path", list(CASES))
def test_chromium_builds_the_same_document(
    path: str, servers: Servers, static_page: Any, report: Report
) -> None:
    """The tree a browser builds from the proxied page is the original's, node for node."""
    case = CASES[path]
    original = _dom(static_page, str(servers.upstream) + case.path)
    proxied = _dom(static_page, str(servers.proxy) + case.path)
    result = Comparison()
    for op, a1, a2, b1, b2 in opcodes(original, proxied):
        if op != "equal":
            before = [_node(line) for line in original[a1:a2]]
            after = [_node(line) for line in proxied[b1:b2]]
            compare_elements(before, after, None, "", result, case.path)
    assert not result.failures, f"{_label(case)}:\n  " + "\n  ".join(result.failures)
    report.row(_label(case)).dom_nodes = len(original)


def _node(line: str) -> Element:
    depth, name, value = line.split("\t", 2)
    if name == "#text":
        return Element(name, {"": json.loads(value)}, int(depth))
    return Element(name, json.loads(value), int(depth))


@pytest.mark.browser
@pytest.mark.parametrize("name", [p for p in SCREENSHOT_PAGES if p in PAGES])
def test_the_default_mode_renders_like_the_original(
    name: str, servers: Servers, browser: Any, static_page: Any, report: Report
) -> None:
    case = CASES["/" + name]
    static_page.goto(str(servers.upstream) + case.path, wait_until="load", timeout=60_000)
    before = static_page.screenshot(animations="disabled")
    static_page.goto(str(servers.proxy) + case.path, wait_until="load", timeout=60_000)
    assert static_page.locator(f"#{TOOLBAR_ID}").count() == 1
    # The toolbar pushes the page down and the way back to it follows the page, by design;
    # with both hidden, the rest must be where it was.
    assert static_page.locator(f"#{RETURN_ID}").count() == 1
    static_page.evaluate(_HIDE_OURS, [TOOLBAR_ID, RETURN_ID])
    after = static_page.screenshot(animations="disabled")

    judge = browser.new_page()
    try:
        differing = judge.evaluate(_PIXEL_DIFF, [_data_url(before), _data_url(after)])
    finally:
        judge.close()
    report.row(name).pixels = differing
    tolerance, why = PIXEL_EXCUSES.get(name, (PIXEL_TOLERANCE, ""))
    assert differing <= tolerance, f"{name}: {differing:.2%} of the pixels differ"
    if why:
        assert differing > PIXEL_TOLERANCE, f"{name} renders alike now: take it off PIXEL_EXCUSES"


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()
