"""The rewriter as a pure function: HTML in, a page with two slots out."""

import pytest
from bs4 import BeautifulSoup
from yarl import URL

from proxy.rewriting.links import LinkMap
from proxy.rewriting.rewrite import Page, Rules, rewrite

RULES = Rules(
    LinkMap(URL("https://moz.example.gov.ua"), URL("https://a11y.example.gov.ua")),
    hidden=(".bvi-open", ".bvi-panel"),
)
HEAD = '<link rel="stylesheet" href="/_a11y/css/x.css" data-a11y-proxy="stylesheet">'
BAR = '<nav id="a11y-proxy-toolbar" data-a11y-proxy="toolbar"></nav>'


def rewritten(html: str | bytes, charset: str | None = "utf-8") -> Page:
    raw = html.encode() if isinstance(html, str) else html
    page = rewrite(raw, charset, RULES)
    assert page is not None
    return page


def soup_of(page: Page) -> BeautifulSoup:
    return BeautifulSoup(page.render(HEAD, BAR), "lxml")


def test_slots_are_last_in_head_and_first_in_body() -> None:
    page = rewritten(
        "<!DOCTYPE html><html><head><title>t</title><link rel=stylesheet href=/a.css></head>"
        "<body><p>x</p></body></html>"
    )
    soup = soup_of(page)
    assert soup.head is not None and soup.body is not None
    assert soup.head.find_all(True)[-1].get("data-a11y-proxy") == "stylesheet"
    assert soup.body.find(True).get("id") == "a11y-proxy-toolbar"  # type: ignore[union-attr]
    assert page.render(HEAD, BAR).startswith(b"<!DOCTYPE html>")


def test_a_fragment_without_head_or_body_still_gets_both() -> None:
    soup = soup_of(rewritten("<p>just text</p>"))
    assert soup.select_one("head > link[data-a11y-proxy]") is not None
    assert soup.select_one("body > nav#a11y-proxy-toolbar") is not None


def test_every_kind_of_upstream_link_points_at_the_proxy() -> None:
    html = """<html><head><base href="https://moz.example.gov.ua/">
    <meta http-equiv="refresh" content="30; url=https://moz.example.gov.ua/news">
    <link rel="canonical" href="https://moz.example.gov.ua/page"></head><body>
    <a href="HTTPS://MOZ.EXAMPLE.GOV.UA:443/a">a</a>
    <img src="http://moz.example.gov.ua/i.png" srcset="https://moz.example.gov.ua/i2.png 2x, /i3.png 3x">
    <form action="//moz.example.gov.ua/search"><button formaction="https://moz.example.gov.ua/go">go</button></form>
    <video poster="https://moz.example.gov.ua/p.jpg"></video>
    <a href="https://other.example.org/x">other</a><a href="/relative">rel</a>
    </body></html>"""
    soup = soup_of(rewritten(html))
    values = [str(value) for tag in soup.find_all(True) for value in tag.attrs.values()]
    assert not any("moz.example.gov.ua" in value for value in values)
    assert soup.select_one("base")["href"] == "https://a11y.example.gov.ua/"  # type: ignore[index]
    assert soup.select_one("a[href='https://other.example.org/x']") is not None
    assert soup.select_one("a[href='/relative']") is not None
    assert soup.select_one("img")["srcset"] == "https://a11y.example.gov.ua/i2.png 2x, /i3.png 3x"  # type: ignore[index]
    assert "url=https://a11y.example.gov.ua/news" in str(
        soup.select_one("meta[http-equiv=refresh]")
    )


def test_scripts_styles_and_templates_stay_byte_for_byte() -> None:
    script = 'if (a < b && c > "</div>") { location = "https://moz.example.gov.ua/x"; }'
    data = '{"url": "https://moz.example.gov.ua/", "x": "<b>"}'
    style = "p { font-size: 14px; color: red } /* https://moz.example.gov.ua */"
    html = (
        f"<html><head><style>{style}</style><script>{script}</script>"
        f'<script type="application/ld+json">{data}</script></head>'
        "<body><template><p class=t>in template</p></template></body></html>"
    )
    out = rewritten(html).render(HEAD, BAR).decode()
    assert f"<script>{script}</script>" in out
    assert f">{data}</script>" in out
    assert f"<style>{style}</style>" in out
    assert '<template><p class="t">in template</p></template>' in out


def test_px_font_sizes_scale_through_a_companion_and_style_attributes() -> None:
    html = '<html><head><style>p { font-size: 14px }</style></head><body><p style="font-size:12px">x</p></body></html>'
    soup = soup_of(rewritten(html))
    companion = soup.select_one("style[data-a11y-proxy=fonts]")
    assert companion is not None and "var(--a11y-scale" in companion.get_text()
    assert companion.find_previous_sibling("style") is not None
    assert "var(--a11y-scale" in str(soup.select_one("p")["style"])  # type: ignore[index]


def test_the_sites_own_low_vision_widget_is_hidden() -> None:
    html = '<body><a class="bvi-open" href="#">Version for the visually impaired</a><p>x</p></body>'
    link = soup_of(rewritten(html)).select_one("a.bvi-open")
    assert link is not None and link.has_attr("hidden") and link.has_attr("data-a11y-proxy-hidden")


# Every element is numbered (data-n), to find it again in the rewritten page.
WIDGETS = """<!DOCTYPE html><html data-n=0><head data-n=1><title data-n=2>t</title></head>
<body data-n=3 class="page bvi-body">
<div data-n=4 class="bvi-open">open</div>
<div data-n=5 class="bvi-opener">a longer class that contains one</div>
<div data-n=6 class="x  bvi-panel	y">among others</div>
<a data-n=7 id="bvi-panel" href="https://moz.example.gov.ua/bvi">by id</a>
<span data-n=8 id="bvi-panel-2">an id that starts the same</span>
<p data-n=9 data-bvi="on">by attribute</p>
<p data-n=10 DATA-BVI>upper case in the source</p>
<section data-n=11 class="panel"><a data-n=12 class="bvi-link" href="#">nested</a>
  <b data-n=13>plain</b></section>
<template data-n=14><div data-n=15 class="bvi-open">inside a template</div></template>
<aside data-n=16 class="a:b">an escaped class</aside>
<ul data-n=17><li data-n=18 hidden>already hidden</li><li data-n=19>not</li></ul>
</body></html>"""
SELECTORS = (
    ".bvi-open",
    ".bvi-panel",
    "#bvi-panel",
    "[data-bvi]",
    '[data-bvi="on"]',
    "[DATA-BVI]",
    ".panel > .bvi-link",
    "section b",
    "ASIDE",
    r".a\:b",
    "li:not([hidden])",
    "body.bvi-body",
    "*",
    ":scope > body",
    "[data-bvi!=on]",
    "template, .bvi-opener",
)


@pytest.mark.parametrize("selector", SELECTORS)
def test_hidden_are_exactly_the_elements_the_selector_selects(selector: str) -> None:
    rules = Rules(RULES.links, hidden=(selector,))
    page = rewrite(WIDGETS.encode(), "utf-8", rules)
    assert page is not None
    parsed = BeautifulSoup(WIDGETS, "lxml", multi_valued_attributes=None)
    expected = {str(tag["data-n"]) for tag in parsed.select(selector) if tag.has_attr("data-n")}
    out = BeautifulSoup(page.render(HEAD, BAR), "lxml")
    hidden = {str(tag["data-n"]) for tag in out.select("[data-a11y-proxy-hidden]")}
    assert hidden == expected
    assert all(tag.has_attr("hidden") for tag in out.select("[data-a11y-proxy-hidden]"))


def test_several_selectors_hide_what_any_of_them_selects() -> None:
    rules = Rules(RULES.links, hidden=(".bvi-open", "#bvi-panel", "section b", "[data-bvi]"))
    page = rewrite(WIDGETS.encode(), "utf-8", rules)
    assert page is not None
    out = BeautifulSoup(page.render(HEAD, BAR), "lxml")
    hidden = sorted(int(str(tag["data-n"])) for tag in out.select("[data-a11y-proxy-hidden]"))
    assert hidden == [4, 7, 9, 10, 13]


def test_what_the_proxy_added_earlier_goes_with_everything_inside_it() -> None:
    html = (
        '<body><div data-a11y-proxy="toolbar"><a class="bvi-open">ours</a></div>'
        '<a class="bvi-open">theirs</a></body>'
    )
    soup = soup_of(rewritten(html))
    assert [a.get_text() for a in soup.select("a.bvi-open")] == ["theirs"]
    assert soup.select_one("a.bvi-open[hidden][data-a11y-proxy-hidden]") is not None


def test_windows_1251_comes_out_as_utf8_with_the_meta_agreeing() -> None:
    text = "<html><head><meta charset='windows-1251'></head><body><p>Міністерство охорони здоров'я</p></body></html>"
    page = rewritten(text.encode("cp1251"), "windows-1251")
    out = page.render(HEAD, BAR).decode("utf-8")
    assert "Міністерство охорони здоров'я" in out
    soup = BeautifulSoup(out, "lxml")
    assert [m["charset"] for m in soup.select("meta[charset]")] == ["utf-8"]


def test_http_equiv_content_type_is_made_to_agree() -> None:
    text = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=koi8-u"></head><body>Привіт</body></html>'
    out = rewritten(text.encode("koi8-u"), None).render(HEAD, BAR).decode()
    assert 'content="text/html; charset=utf-8"' in out and "Привіт" in out


def test_rewriting_our_own_output_again_changes_nothing() -> None:
    html = '<!DOCTYPE html><html lang="uk"><head><style>h1{font-size:30px}</style></head><body><h1 style="font-size:20px">Т</h1></body></html>'
    once = rewritten(html).render(HEAD, BAR)
    twice = rewritten(once).render(HEAD, BAR)
    assert twice == once
    soup = BeautifulSoup(twice, "lxml")
    assert len(soup.select("#a11y-proxy-toolbar")) == 1
    assert len(soup.select("link[data-a11y-proxy=stylesheet]")) == 1
    assert len(soup.select("style[data-a11y-proxy=fonts]")) == 1


def test_language_and_canonical_are_reported() -> None:
    page = rewritten(
        '<html lang="uk-UA"><head><link rel="Canonical" href="/x"></head><body></body></html>'
    )
    assert page.lang == "uk-UA" and page.has_canonical
    assert not rewritten("<p>x</p>").has_canonical


def test_a_frameset_page_gets_no_toolbar_but_the_stylesheet() -> None:
    page = rewritten('<html><head></head><frameset><frame src="a.html"></frameset></html>')
    out = page.render(HEAD, BAR).decode()
    assert "a11y-proxy-toolbar" not in out and 'data-a11y-proxy="stylesheet"' in out


def test_an_unknown_label_falls_back_to_detection() -> None:
    page = rewrite("<p>Привіт</p>".encode(), "no-such-charset", RULES)
    assert page is not None and "Привіт" in page.render("", "").decode()


def test_an_undecidable_charset_is_reported_as_none() -> None:
    # Bytes that are neither UTF-8 nor anything a detector recognises: relay, don't garble.
    assert rewrite(bytes(range(128, 256)) * 50, None, RULES) is None


def test_a_root_font_size_in_percent_on_the_html_element_scales() -> None:
    # msn-style pages set <html style="font-size:62.5%"> and size everything else in rem.
    soup = soup_of(
        rewritten(
            '<html style="font-size:62.5%"><body><p style="font-size:50%">x</p></body></html>'
        )
    )
    assert "62.5% * var(--a11y-scale" in str(soup.html["style"])  # type: ignore[index]
    # Elsewhere 50% is of the parent, scaled already: never multiplied by the scale again.
    assert "* var(--a11y-scale" not in str(soup.select_one("p")["style"])  # type: ignore[index]
