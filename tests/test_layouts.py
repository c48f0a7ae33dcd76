"""The layout fixture site as Chromium shows it, before any test of the modes relies on it.

Every page answers, and so does every stylesheet, font and image it uses; nothing is fetched
from outside loopback; each framework's CSS really applies; and no page, as its site serves it,
scrolls sideways at 1280 CSS px, nor the responsive ones on a phone or in a 320 px window.
JavaScript is off, as in the measurements of the modes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import pytest
from playwright.sync_api import Browser, BrowserContext, Request, Response, Route

from tests import measure
from tests.browser import Upstreams, chromium
from tests.layouts import LAYOUT_PAGES, create_layouts_app

pytestmark = pytest.mark.browser

#: The one page that is a fixed-width desktop site by design.
DESKTOP_ONLY: Final = "/ministry-fixed-uk.html"
RESPONSIVE: Final = tuple(path for path in LAYOUT_PAGES if path != DESKTOP_ONLY)

WIDE: Final[dict[str, Any]] = {"viewport": {"width": 1280, "height": 800}}
#: A phone: the page's own viewport meta decides the layout width.
PHONE: Final[dict[str, Any]] = {
    "viewport": {"width": 375, "height": 667},
    "is_mobile": True,
    "device_scale_factor": 2,
    "has_touch": True,
}
#: A desktop window 320 px wide, as the reflow measurements use.
NARROW: Final[dict[str, Any]] = {"viewport": {"width": 320, "height": 256}}

#: Per page, computed styles that only its framework's CSS (or, for the hand-written pages,
#: its own) gives: (selector, property, a part of the value).
STYLED: Final[dict[str, tuple[tuple[str, str, str], ...]]] = {
    "/bootstrap-dashboard.html": (
        (".navbar", "display", "flex"),
        (".table-responsive", "overflow-x", "auto"),
    ),
    "/bootstrap-news.html": (
        (".card", "flex-direction", "column"),
        (".news-card", "height", "352px"),
    ),
    "/govuk-service.html": (
        (".govuk-button", "background-color", "rgb(0, 112, 60)"),
        (".govuk-body", "font-family", "GDS Transport"),
    ),
    "/uswds-landing.html": (
        (".usa-banner", "background-color", "rgb(240, 240, 240)"),
        (".usa-hero", "background-image", "/vendor/uswds/img/hero.jpg"),
        (".usa-card__heading", "font-family", "Merriweather"),
    ),
    DESKTOP_ONLY: (
        ("#page", "width", "1024px"),
        ("a.lang", "position", "absolute"),
    ),
    "/patterns-en.html": (
        (".site-header", "position", "sticky"),
        (".cookie-banner", "position", "fixed"),
    ),
}
#: Pages whose framework brings web fonts: they must arrive, not fall back unseen.
WEB_FONTS: Final = ("/govuk-service.html", "/uswds-landing.html")

#: Every file the page links (icons and the manifest too) and, of those, its stylesheets.
LINKS_JS: Final = """() => ({
  all: [...document.querySelectorAll('link[href], img[src]')].map((el) => el.href || el.src),
  stylesheets: [...document.querySelectorAll('link[rel=stylesheet]')].map((el) => el.href),
})"""


@dataclass
class Traffic:
    """What one page load asked for and got."""

    responses: list[Response] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    with Upstreams(create_layouts_app()) as upstreams:
        yield upstreams.origins[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _context(browser: Browser, traffic: Traffic, options: dict[str, Any]) -> BrowserContext:
    context = browser.new_context(java_script_enabled=False, **options)

    def local_only(route: Route) -> None:
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            traffic.outside.append(route.request.url)
            route.abort()

    def answered(response: Response) -> None:
        traffic.responses.append(response)

    def failed(request: Request) -> None:
        traffic.failed.append(f"{request.url}: {request.failure}")

    context.route("**/*", local_only)
    context.on("response", answered)
    context.on("requestfailed", failed)
    return context


@pytest.mark.parametrize("path", LAYOUT_PAGES)
def test_page_and_everything_it_uses_answer(browser: Browser, origin: str, path: str) -> None:
    traffic = Traffic()
    context = _context(browser, traffic, WIDE)
    try:
        page = context.new_page()
        response = page.goto(origin + path, wait_until="networkidle")
        assert response is not None and response.status == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        links = page.evaluate(LINKS_JS)
        # A headless page does not fetch its icons or manifest: ask for every link directly.
        linked = {url: page.request.get(url).status for url in links["all"]}
    finally:
        context.close()

    assert traffic.outside == []
    assert traffic.failed == []
    assert [(r.status, r.url) for r in traffic.responses if r.status != 200] == []
    assert {url: status for url, status in linked.items() if status != 200} == {}
    loaded = {r.url for r in traffic.responses}
    assert set(links["stylesheets"]) <= loaded
    if path in WEB_FONTS:
        fonts = [r for r in traffic.responses if r.request.resource_type == "font"]
        assert fonts, "the framework's fonts were never fetched"


@pytest.mark.parametrize("path", LAYOUT_PAGES)
def test_framework_css_applies(browser: Browser, origin: str, path: str) -> None:
    context = _context(browser, Traffic(), WIDE)
    try:
        page = context.new_page()
        page.goto(origin + path, wait_until="load")
        for selector, prop, expected in STYLED[path]:
            value = page.eval_on_selector(
                selector, "(el, prop) => getComputedStyle(el).getPropertyValue(prop)", prop
            )
            assert expected in value, f"{selector} {{ {prop}: {value} }}"
    finally:
        context.close()


def _cases() -> Iterator[Any]:
    for path in LAYOUT_PAGES:
        yield pytest.param(path, WIDE, id=f"{path}-1280")
    for path in RESPONSIVE:
        yield pytest.param(path, PHONE, id=f"{path}-phone-375")
        yield pytest.param(path, NARROW, id=f"{path}-320")


@pytest.mark.parametrize(("path", "options"), list(_cases()))
def test_original_does_not_scroll_sideways(
    browser: Browser, origin: str, path: str, options: dict[str, Any]
) -> None:
    context = _context(browser, Traffic(), options)
    try:
        page = context.new_page()
        page.goto(origin + path, wait_until="load")
        scroll = page.evaluate(measure.SCROLL_JS)
    finally:
        context.close()
    assert scroll["reach"] == 0, scroll["culprits"]
