"""The toolbar in real headless Chromium with JavaScript off: each control really changes the
computed colours and font size, and the mode survives a click on an ordinary link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.browser import chromium, running_proxy
from tests.conftest import free_port
from tests.wcag import contrast_ratio, parse_color

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo() -> Iterator[str]:
    with running_proxy(free_port()) as origin:
        yield origin


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def looks(page: Page) -> dict[str, str | float]:
    """Computed colours of the page and the font size of its first article paragraph."""
    result: dict[str, str | float] = page.evaluate(
        """() => {
            const body = getComputedStyle(document.body);
            const p = document.querySelector('main p');
            const ps = getComputedStyle(p);
            return {bg: body.backgroundColor, fg: ps.color, size: parseFloat(ps.fontSize),
                    h1: parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)};
        }"""
    )
    return result


def click(page: Page, label: str) -> None:
    link = page.locator("#a11y-proxy-toolbar").get_by_role("link", name=label, exact=True)
    if not link.is_visible():  # one of the settings behind the disclosure
        page.locator("#a11y-proxy-toolbar summary").click()
    with page.expect_navigation():
        link.click()


def test_each_control_changes_the_page_and_the_mode_survives_navigation(
    demo: str, browser: Browser
) -> None:
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto(demo + "/news/")
    original = looks(page)

    click(page, "change to blue")
    blue = looks(page)
    assert blue["bg"] != original["bg"]
    background, text = parse_color(str(blue["bg"])), parse_color(str(blue["fg"]))
    assert background[2] > background[0] and text[2] > text[0]  # light blue ground, dark blue text
    assert contrast_ratio(background, text) >= 7
    assert blue["size"] == original["size"]
    toolbar = page.locator("#a11y-proxy-toolbar")
    blue_control = toolbar.get_by_role("link", name="change to blue", exact=True)
    assert blue_control.get_attribute("aria-current") == "true"

    click(page, "large font")
    large = looks(page)
    assert float(large["size"]) >= 1.5 * float(original["size"]) - 0.01
    assert float(large["h1"]) > float(large["size"])  # headings stay larger than body text
    assert large["bg"] == blue["bg"]

    # An ordinary link of the site: the mode comes along through the cookie.
    with page.expect_navigation():
        page.locator("nav a[href='/about.html']").first.click()
    assert page.url == demo + "/about.html"
    after = looks(page)
    assert after["bg"] == blue["bg"]
    assert float(after["size"]) >= 1.5 * float(original["size"]) - 0.01

    click(page, "change to b/w")
    bw = looks(page)
    assert parse_color(str(bw["bg"])) == (255, 255, 255) and parse_color(str(bw["fg"])) == (0, 0, 0)

    click(page, "change to b/w")  # choosing the active theme returns to the site's colours
    assert looks(page)["bg"] == original["bg"]
    click(page, "normal version")
    assert looks(page) == looks(page) and looks(page)["size"] == original["size"]
    context.close()


def test_a_mode_link_opened_in_a_fresh_browser_shows_and_remembers_the_mode(
    demo: str, browser: Browser
) -> None:
    sender = browser.new_context(java_script_enabled=False)
    page = sender.new_page()
    page.goto(demo + "/statistics.html")
    click(page, "change to blue")
    # "Link to this view" shows the link as text, on a page that says what it is.
    click(page, "link to this view")
    field = page.get_by_label("The link")
    shared = field.input_value()
    assert shared == demo + "/_a11y/view/blue-100/statistics.html"
    assert field.get_attribute("readonly") is not None
    assert page.locator("h1").inner_text() == "Link to this view"
    with page.expect_navigation():
        page.get_by_role("link", name="Back to the page").click()
    assert page.url == shared
    sender.close()

    fresh = browser.new_context(java_script_enabled=False)
    page = fresh.new_page()
    page.goto(shared)
    assert parse_color(str(looks(page)["bg"]))[2] > 200
    cookies = {c["name"]: c for c in fresh.cookies()}
    assert cookies["a11y_mode"]["value"] == "blue-100"
    assert cookies["a11y_mode"]["httpOnly"] and cookies["a11y_mode"]["sameSite"] == "Lax"
    page.goto(demo + "/about.html")  # a plain URL: the remembered mode applies
    assert parse_color(str(looks(page)["bg"]))[2] > 200
    fresh.close()


def test_controls_are_keyboard_reachable_visibly_focused_and_big_enough(
    demo: str, browser: Browser
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(demo + "/")
    controls = page.locator("#a11y-proxy-toolbar .a11y-toolbar__control:visible")
    assert controls.count() == 4  # the strip of three and the disclosure
    page.locator("#a11y-proxy-toolbar summary").click()
    controls = page.locator("#a11y-proxy-toolbar .a11y-toolbar__control:visible")
    assert controls.count() == 7
    for index in range(controls.count()):
        box = controls.nth(index).bounding_box()
        assert box is not None and box["width"] >= 24 and box["height"] >= 24
    page.reload()
    where = """() => { const a = document.activeElement; const s = getComputedStyle(a);
                   return {toolbar: !!a.closest('#a11y-proxy-toolbar'), style: s.outlineStyle,
                           width: parseFloat(s.outlineWidth)}; }"""
    for _ in range(4):  # four Tab stops at most before the page's own content
        page.keyboard.press("Tab")
        focused = page.evaluate(where)
        assert focused["toolbar"] and focused["style"] != "none" and focused["width"] >= 2
    page.keyboard.press("Tab")
    assert not page.evaluate(where)["toolbar"]
    # From the end of the page, one link leads back to the controls.
    page.locator("#a11y-proxy-return a").click()  # a fragment: no navigation
    assert page.url.endswith("#a11y-proxy-toolbar")
    page.keyboard.press("Tab")
    assert page.evaluate(where)["toolbar"]
    context.close()


def test_the_copy_button_copies_the_link_and_says_so(demo: str, browser: Browser) -> None:
    """Where script runs, the share page's button copies the link; a screen reader hears it."""
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=demo)
    page = context.new_page()
    page.goto(demo + "/_a11y/share/bw-150/news/")
    button = page.get_by_role("button", name="Copy the link")
    button.click()
    status = page.get_by_role("status")
    status.filter(has_text="The link is copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == demo + "/_a11y/view/bw-150/news/"
    context.close()
    # Without script, the button is not there to mislead: the link is text to select.
    static = browser.new_context(java_script_enabled=False)
    page = static.new_page()
    page.goto(demo + "/_a11y/share/bw-150/news/")
    assert not page.get_by_role("button", name="Copy the link").is_visible()
    assert page.get_by_label("The link").input_value() == demo + "/_a11y/view/bw-150/news/"
    static.close()


SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def test_readme_screenshots_of_the_demo_home_page_in_each_mode(demo: str, browser: Browser) -> None:
    """Regenerates the README's pictures, and checks each mode really looks different."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 800}
    )
    page = context.new_page()
    shots: dict[str, bytes] = {}
    modes = (
        ("normal", "default-100"),
        ("large-font", "default-150"),
        ("blue", "blue-100"),
        ("black-and-white", "bw-100"),
        ("blue-large-font", "blue-150"),
    )
    for name, token in modes:
        page.goto(f"{demo}/_a11y/view/{token}/")
        shots[name] = page.screenshot(path=SCREENSHOTS / f"{name}.png")
    context.close()
    # The same on a phone: the reading modes lay the page out at the phone's width.
    phone = browser.new_context(
        java_script_enabled=False,
        viewport={"width": 375, "height": 667},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = phone.new_page()
    for name, token in modes:
        page.goto(f"{demo}/_a11y/view/{token}/news/elektronna-cherga.html")
        shots[f"phone-{name}"] = page.screenshot(path=SCREENSHOTS / f"phone-{name}.png")
    phone.close()
    assert len(set(shots.values())) == len(shots)
