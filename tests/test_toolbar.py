from bs4 import BeautifulSoup, Tag

from proxy.rewriting.modes import DEFAULT, Mode, Theme
from proxy.rewriting.toolbar import head_links, language, return_link, toolbar
from proxy.rewriting.viewport import DEVICE_WIDTH, for_mode, unlocked

PREFIX = "/_a11y/"


def _label(control: Tag) -> str:
    """The full label of a control (the short one is for small screens)."""
    full = control.select_one(".a11y-toolbar__label")
    return (full or control).get_text()


def controls(
    mode: Mode, target: str = "/news/1.html?x=1", lang: str = "en"
) -> dict[str, tuple[str, bool]]:
    soup = BeautifulSoup(toolbar(mode, target, lang, PREFIX), "lxml")
    return {
        _label(a): (str(a["href"]), a.get("aria-current") == "true")
        for a in soup.select("nav#a11y-proxy-toolbar a.a11y-toolbar__control")
    }


def test_three_controls_with_the_exact_labels_plus_normal_and_share() -> None:
    found = controls(DEFAULT)
    for label in (
        "large font",
        "change to blue",
        "change to b/w",
        "larger font",
        "normal version",
        "link to this view",
    ):
        assert label in found
    assert found["large font"] == ("/_a11y/view/default-150/news/1.html?x=1", False)
    assert found["change to blue"] == ("/_a11y/view/blue-100/news/1.html?x=1", False)
    assert found["change to b/w"] == ("/_a11y/view/bw-100/news/1.html?x=1", False)
    assert found["normal version"] == ("/_a11y/view/default-100/news/1.html?x=1", True)


def test_the_original_strip_comes_first_and_the_rest_behind_one_disclosure() -> None:
    soup = BeautifulSoup(toolbar(DEFAULT, "/", "en", PREFIX), "lxml")
    strip = soup.select("nav > ul > li")
    assert [_label(item.a) for item in strip[:3] if item.a is not None] == [
        "large font",
        "change to blue",
        "change to b/w",
    ]
    details = strip[3].select_one("details")
    assert details is not None and not details.has_attr("open")
    summary = details.select_one("summary")
    assert summary is not None and _label(summary) == "more settings"
    # Tab stops before the page: three links and the summary; the rest is inside <details>.
    reachable = [a for a in soup.select("a[href]") if a.find_parent("details") is None]
    assert len(reachable) + 1 == 4


def test_short_labels_are_read_with_the_full_ones() -> None:
    soup = BeautifulSoup(toolbar(DEFAULT, "/", "uk", PREFIX), "lxml")
    first = soup.select_one("a.a11y-toolbar__control--large")
    assert first is not None
    short = first.select_one(".a11y-toolbar__short")
    assert short is not None and short.get_text() == "A+"
    # Not hidden from the accessibility tree: the name holds what a sighted user sees.
    assert not short.has_attr("aria-hidden")
    assert " ".join(first.get_text().split()) == "A+ великий шрифт"


def test_state_is_announced_and_controls_toggle() -> None:
    found = controls(Mode(Theme.BLUE, 150))
    assert found["large font"] == ("/_a11y/view/blue-100/news/1.html?x=1", True)
    assert found["change to blue"] == ("/_a11y/view/default-150/news/1.html?x=1", True)
    assert found["change to b/w"] == ("/_a11y/view/bw-150/news/1.html?x=1", False)
    assert found["normal version"][1] is False
    assert found["link to this view"] == ("/_a11y/share/blue-150/news/1.html?x=1", False)


def test_ukrainian_pages_get_ukrainian_labels() -> None:
    found = controls(DEFAULT, lang="uk-UA")
    assert {"великий шрифт", "змінити на синій", "змінити на ч/б", "звичайна версія"} <= set(found)
    soup = BeautifulSoup(toolbar(DEFAULT, "/", "uk", PREFIX), "lxml")
    nav = soup.select_one("nav")
    assert nav is not None and nav["lang"] == "uk" and nav["aria-label"] == "Режим читання"
    assert language("en-GB") == "en" and language(None) == "en" and language("ru") == "en"


def test_hostile_targets_are_escaped() -> None:
    target = '/x?"><script>alert(1)</script>'
    markup = toolbar(DEFAULT, target, "en", PREFIX)
    assert "<script>" not in markup
    soup = BeautifulSoup(markup, "lxml")
    assert soup.find("script") is None
    link = soup.select_one("a.a11y-toolbar__control--share")
    assert link is not None and str(link["href"]).endswith(target)


def test_the_link_at_the_end_leads_back_to_the_toolbar() -> None:
    soup = BeautifulSoup(return_link("uk"), "lxml")
    link = soup.select_one("#a11y-proxy-return a")
    assert link is not None and link["href"] == "#a11y-proxy-toolbar"
    assert link.get_text() == "Налаштування режиму читання"
    # A page with a <base> gets the page's own address before the fragment.
    page = BeautifulSoup(return_link("en", "https://a.example/x?y=1"), "lxml").a
    assert page is not None and page["href"] == "https://a.example/x?y=1#a11y-proxy-toolbar"


def test_head_links_carry_the_stylesheet_and_optional_canonical() -> None:
    soup = BeautifulSoup(head_links("/_a11y/css/blue-150.css?v=1", "https://a.example/x"), "lxml")
    assert [str(link["rel"]) for link in soup.find_all("link")] == [
        "['stylesheet']",
        "['canonical']",
    ]
    assert (
        BeautifulSoup(head_links("/s.css", None), "lxml").select_one("link[rel=canonical]") is None
    )


def test_reading_modes_lay_the_page_out_at_the_device_width() -> None:
    assert for_mode("width=1024", reading=True) == DEVICE_WIDTH
    assert for_mode(None, reading=True) == DEVICE_WIDTH
    soup = BeautifulSoup(head_links("/s.css", None, DEVICE_WIDTH), "lxml")
    meta = soup.select_one("meta[name=viewport]")
    assert meta is not None and meta["content"] == "width=device-width, initial-scale=1"


def test_the_normal_version_keeps_the_page_viewport_but_lets_readers_zoom() -> None:
    assert for_mode("width=1024", reading=False) is None
    assert for_mode(None, reading=False) is None
    locked = "width=device-width, initial-scale=1, maximum-scale=1, user-scalable=no"
    assert for_mode(locked, reading=False) == "width=device-width, initial-scale=1"
    assert unlocked("width=device-width;user-scalable=0") == "width=device-width"
    assert unlocked("initial-scale=1.0,maximum-scale=1.0") == "initial-scale=1.0"
