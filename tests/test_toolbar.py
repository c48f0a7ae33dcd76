from bs4 import BeautifulSoup

from proxy.modes import DEFAULT, Mode, Theme
from proxy.toolbar import head_links, language, toolbar

PREFIX = "/_a11y/"


def controls(
    mode: Mode, target: str = "/news/1.html?x=1", lang: str = "en"
) -> dict[str, tuple[str, bool]]:
    soup = BeautifulSoup(toolbar(mode, target, lang, PREFIX), "lxml")
    return {
        a.get_text(): (str(a["href"]), a.get("aria-current") == "true")
        for a in soup.select("nav#a11y-proxy-toolbar a.a11y-toolbar__control")
    }


def test_three_controls_with_the_exact_labels_plus_normal_and_share() -> None:
    found = controls(DEFAULT)
    for label in (
        "large font",
        "change to blue",
        "change to b/w",
        "normal version",
        "link to this view",
    ):
        assert label in found
    assert found["large font"] == ("/_a11y/view/default-150/news/1.html?x=1", False)
    assert found["change to blue"] == ("/_a11y/view/blue-100/news/1.html?x=1", False)
    assert found["change to b/w"] == ("/_a11y/view/bw-100/news/1.html?x=1", False)
    assert found["normal version"] == ("/_a11y/view/default-100/news/1.html?x=1", True)


def test_state_is_announced_and_controls_toggle() -> None:
    found = controls(Mode(Theme.BLUE, 150))
    assert found["large font"] == ("/_a11y/view/blue-100/news/1.html?x=1", True)
    assert found["change to blue"] == ("/_a11y/view/default-150/news/1.html?x=1", True)
    assert found["change to b/w"] == ("/_a11y/view/bw-150/news/1.html?x=1", False)
    assert found["normal version"][1] is False
    assert found["link to this view"] == ("/_a11y/view/blue-150/news/1.html?x=1", False)


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


def test_head_links_carry_the_stylesheet_and_optional_canonical() -> None:
    soup = BeautifulSoup(head_links("/_a11y/css/blue-150.css?v=1", "https://a.example/x"), "lxml")
    assert [str(link["rel"]) for link in soup.find_all("link")] == [
        "['stylesheet']",
        "['canonical']",
    ]
    assert (
        BeautifulSoup(head_links("/s.css", None), "lxml").select_one("link[rel=canonical]") is None
    )
