"""The foundation, end to end: a real upstream on loopback, the real proxy in front of it."""

from __future__ import annotations

import asyncio

from aiohttp import web
from bs4 import BeautifulSoup, Tag

from tests.conftest import ProxyFactory, Upstream, free_port, html_page


def soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "lxml")


def label(control: Tag) -> str:
    """A toolbar control's full label (small screens show a short one beside it)."""
    full = control.select_one(".a11y-toolbar__label")
    return (full or control).get_text()


def stylesheet_href(page: BeautifulSoup) -> str:
    link = page.select_one("head > link[data-a11y-proxy=stylesheet]")
    assert link is not None
    return str(link["href"])


async def test_every_page_gets_the_toolbar_first_in_body(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/", html_page("<header>Ministry</header><p>Text</p>"))
    client = await start_proxy(upstream)
    response = await client.get("/")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = soup(await response.text())
    first = page.body.find(True) if page.body else None
    assert first is not None and first.get("id") == "a11y-proxy-toolbar"
    labels = [label(a) for a in page.select("#a11y-proxy-toolbar a")]
    assert labels[:4] == ["large font", "change to blue", "change to b/w", "larger font"]
    assert page.select_one("header") is not None
    # The stylesheet is ours, same-origin, last in <head>.
    head_tags = page.head.find_all(True) if page.head else []
    assert head_tags[-1].get("data-a11y-proxy") == "stylesheet"
    assert stylesheet_href(page).startswith("/_a11y/css/default-100.css")


async def test_ukrainian_pages_get_ukrainian_labels(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/uk", html_page("<p>Новини</p>", lang="uk"))
    client = await start_proxy(upstream)
    page = soup(await (await client.get("/uk")).text())
    assert "великий шрифт" in [label(a) for a in page.select("#a11y-proxy-toolbar a")]


async def test_the_mode_cookie_shapes_every_page(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/", html_page())
    upstream.page("/other", html_page("<p>Other</p>"))
    client = await start_proxy(upstream)
    for path in ("/", "/other"):
        response = await client.get(path, headers={"Cookie": "a11y_mode=bw-150; session=abc"})
        page = soup(await response.text())
        assert stylesheet_href(page).startswith("/_a11y/css/bw-150.css")
        current = {label(a) for a in page.select("#a11y-proxy-toolbar a[aria-current=true]")}
        assert current == {"large font", "change to b/w"}
        assert "Cookie" in response.headers["Vary"]
    # The upstream never sees the proxy's cookie, but does see its own.
    assert all("a11y_mode" not in seen.headers.get("Cookie", "") for seen in upstream.seen)
    assert all("session=abc" in seen.headers.get("Cookie", "") for seen in upstream.seen)


async def test_bad_cookies_become_the_default_mode_and_are_never_echoed(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/", html_page())
    client = await start_proxy(upstream)
    for value in (
        "blue-999",
        "<script>alert(1)</script>",
        "x" * 4000,
        "bw-150\\",
        "bw-150,blue-100",
    ):
        response = await client.get("/", headers={"Cookie": f"a11y_mode={value}"})
        text = await response.text()
        assert response.status == 200
        assert stylesheet_href(soup(text)).startswith("/_a11y/css/default-100.css")
        assert "<script>alert(1)</script>" not in text
        assert value not in str(response.headers)


async def test_a_mode_link_shows_the_page_in_that_mode_and_remembers_it(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/news/1.html", html_page("<p>Article</p>"))
    client = await start_proxy(upstream)
    response = await client.get("/_a11y/view/blue-150/news/1.html")
    assert response.status == 200
    assert "Set-Cookie" not in response.headers  # cacheable by URL
    page = soup(await response.text())
    canonical = page.select_one("link[rel=canonical]")
    assert canonical is not None and canonical[
        "href"
    ] == f"{client.make_url('')}news/1.html".replace(
        str(client.make_url("")), str(client.make_url("/"))
    )
    keep = stylesheet_href(page)
    assert keep.startswith("/_a11y/keep/blue-150.css")
    # Loading that stylesheet (as any browser does, JavaScript or not) sets the mode cookie.
    css = await client.get(keep)
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
    cookie = css.headers["Set-Cookie"]
    assert cookie.startswith("a11y_mode=blue-150;")
    for attribute in ("HttpOnly", "Path=/", "SameSite=Lax", "Max-Age=31536000"):
        assert attribute in cookie
    assert "Secure" not in cookie and "Domain" not in cookie
    assert css.headers["Cache-Control"] == "no-store"
    # The upstream got the plain path, never the mode link.
    assert [seen.path_qs for seen in upstream.seen] == ["/news/1.html"]


async def test_the_mode_cookie_is_secure_behind_https(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    from yarl import URL

    client = await start_proxy(upstream, public_url=URL("https://a11y.example.gov.ua"))
    css = await client.get("/_a11y/keep/bw-100.css")
    assert "Secure" in css.headers["Set-Cookie"]


async def test_a_mode_link_keeps_the_query_and_an_upstream_canonical(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/search", html_page(head='<link rel="canonical" href="/search">'))
    client = await start_proxy(upstream)
    page = soup(await (await client.get("/_a11y/view/bw-200/search?q=%D0%B1&page=2")).text())
    assert len(page.select("link[rel=canonical]")) == 1
    assert upstream.seen[-1].path_qs == "/search?q=%D0%B1&page=2"
    share = page.select_one("a.a11y-toolbar__control--share")
    assert share is not None and share["href"] == "/_a11y/share/bw-200/search?q=%D0%B1&page=2"


async def test_link_to_this_view_shows_the_link_as_text_to_copy(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/search", html_page())
    client = await start_proxy(upstream)
    response = await client.get(
        "/_a11y/share/bw-200/search?q=%D0%B1&page=2", headers={"Accept-Language": "uk"}
    )
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = soup(await response.text())
    field = page.select_one("input#a11y-share-link")
    origin = f"http://127.0.0.1:{client.server.port}"
    assert field is not None and field.has_attr("readonly")
    assert field["value"] == origin + "/_a11y/view/bw-200/search?q=%D0%B1&page=2"
    assert page.select_one("label[for=a11y-share-link]") is not None
    # It says so, in the reader's language, and leads back to the page in the same view.
    assert page.html is not None and page.html["lang"] == "uk"
    assert page.select_one("[role=status]") is not None
    back = page.select_one("ul.a11y-page__links a")
    assert back is not None and back["href"] == "/_a11y/view/bw-200/search?q=%D0%B1&page=2"
    # Its stylesheets are the proxy's own, in the reader's mode; the copy button's script too.
    hrefs = [str(link["href"]) for link in page.select("link[rel=stylesheet]")]
    assert any("/_a11y/css/bw-200.css" in href for href in hrefs)
    script = page.select_one("script[src]")
    assert script is not None and str(script["src"]).startswith("/_a11y/share.js")
    js = await client.get(str(script["src"]))
    assert js.status == 200 and "clipboard" in await js.text()


async def test_a_hostile_share_target_is_escaped_and_stays_on_the_proxy(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    client = await start_proxy(upstream)
    text = await (
        await client.get('/_a11y/share/blue-150//evil.example/"><script>x</script>')
    ).text()
    assert "<script>x" not in text
    back = soup(text).select_one("ul.a11y-page__links a")
    assert back is not None and str(back["href"]).startswith("/_a11y/view/blue-150//")


async def test_files_a_page_loads_have_one_url_in_every_mode(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page(
        "/news/item.html",
        html_page(
            '<img src="img/a.png" srcset="img/a.png 1x, img/b.png 2x">'
            '<a href="other.html">next</a><a href="#top">top</a>',
            head='<link rel="stylesheet" href="../css/site.css"><script src="js/x.js"></script>',
        ),
    )
    client = await start_proxy(upstream)
    plain = soup(await (await client.get("/news/item.html")).text())
    linked = soup(await (await client.get("/_a11y/view/bw-150/news/item.html")).text())
    for page in (plain, linked):
        assert page.select_one("img")["src"] == "/news/img/a.png"  # type: ignore[index]
        assert page.select_one("img")["srcset"] == "/news/img/a.png 1x, /news/img/b.png 2x"  # type: ignore[index]
        assert page.select_one("link[href*=site]")["href"] == "/css/site.css"  # type: ignore[index]
        assert page.select_one("script[src]")["src"] == "/news/js/x.js"  # type: ignore[index]
        # Links a reader follows stay relative: they keep the reader in the mode link.
        assert page.select_one("a[href$='other.html']")["href"] == "other.html"  # type: ignore[index]
        assert page.select_one("a[href='#top']") is not None


async def test_reading_modes_lay_pages_out_at_the_device_width(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    locked = '<meta name="viewport" content="width=1024, maximum-scale=1, user-scalable=no">'
    upstream.page("/", html_page(head=locked))
    client = await start_proxy(upstream)
    for mode, expected in (
        ("blue-150", "width=device-width, initial-scale=1"),
        ("default-100", "width=1024"),
    ):
        page = soup(await (await client.get(f"/_a11y/view/{mode}/")).text())
        # The last viewport <meta> is the one browsers follow: the proxy's, in the head slot.
        metas = page.select("meta[name=viewport]")
        assert metas[-1]["content"] == expected, mode


async def test_a_ukrainian_page_without_lang_gets_ukrainian_labels(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    text = "Міністерство охорони здоров'я України інформує про зміни в графіку прийому громадян."
    upstream.page("/uk", f"<!DOCTYPE html><html><head><title>x</title></head><body><p>{text}</p>")
    upstream.page("/en", "<!DOCTYPE html><html><body><p>The ministry informs about changes.</p>")
    client = await start_proxy(upstream)
    for path, lang in (("/uk", "uk"), ("/en", "en")):
        page = soup(await (await client.get(path)).text())
        nav = page.select_one("#a11y-proxy-toolbar")
        assert nav is not None and nav["lang"] == lang, path


async def test_an_unknown_mode_in_a_link_is_the_default_mode(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/", html_page())
    client = await start_proxy(upstream)
    response = await client.get("/_a11y/view/%3Cscript%3E/")
    text = await response.text()
    assert response.status == 200
    assert "%3Cscript%3E" not in text and "<script>" not in text
    assert stylesheet_href(soup(text)).startswith("/_a11y/keep/default-100.css")


async def test_upstream_links_point_back_at_the_proxy(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    await upstream.start()
    origin = str(upstream.url)
    body = (
        f'<a href="{origin}/a">a</a><img src="{origin.upper()}/i.png" srcset="{origin}/i.png 2x">'
        f'<form action="{origin}/f"><button formaction="{origin}/g">g</button></form>'
        f'<video poster="{origin}/p.jpg"></video><a href="https://example.org/x">x</a>'
    )
    upstream.page(
        "/",
        html_page(
            body,
            head=f'<base href="{origin}/"><meta http-equiv="refresh" content="60; url={origin}/">',
        ),
    )
    client = await start_proxy(upstream)
    text = await (await client.get("/")).text()
    public = str(client.make_url("/")).rstrip("/")
    assert origin not in text and origin.upper() not in text
    page = soup(text)
    assert page.select_one("a[href='https://example.org/x']") is not None
    assert page.select_one(f"a[href='{public}/a']") is not None
    assert page.select_one("base")["href"] == f"{public}/"  # type: ignore[index]


async def test_scripts_and_inline_data_stay_byte_for_byte(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    script = "var s = '<p>' + (1 < 2) + \"</p>\"; // https://x/?a=1&b=2"
    data = '{"@context": "https://schema.org", "name": "Міністерство <охорони>"}'
    upstream.page(
        "/",
        f"<!DOCTYPE html><html><head><script>{script}</script>"
        f'<script type="application/ld+json">{data}</script></head><body></body></html>',
    )
    client = await start_proxy(upstream)
    text = await (await client.get("/")).text()
    assert text.startswith("<!DOCTYPE html>")
    assert f"<script>{script}</script>" in text
    assert f">{data}</script>" in text


async def test_a_windows_1251_page_comes_out_as_readable_utf8(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    html = html_page("<p>Міністерство охорони здоров'я України</p>", lang="uk").replace(
        'charset="utf-8"', 'charset="windows-1251"'
    )
    upstream.page("/old", html.encode("cp1251"), content_type="text/html; charset=windows-1251")
    client = await start_proxy(upstream)
    response = await client.get("/old")
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    text = (await response.read()).decode("utf-8")
    assert "Міністерство охорони здоров'я України" in text
    assert [m["charset"] for m in soup(text).select("meta[charset]")] == ["utf-8"]


async def test_non_html_streams_through_unchanged(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    png = bytes(range(256)) * 1000
    css = b"body { font-size: 14px }"
    upstream.page("/i.png", png, content_type="image/png")
    upstream.page("/report.pdf", b"%PDF-1.4 data", content_type="application/pdf")
    upstream.page("/app.js", b"document.write('<p>')", content_type="application/javascript")
    client = await start_proxy(upstream)
    for path, body, kind in (
        ("/i.png", png, "image/png"),
        ("/report.pdf", b"%PDF-1.4 data", "application/pdf"),
        ("/app.js", b"document.write('<p>')", "application/javascript"),
    ):
        response = await client.get(path)
        assert response.status == 200
        assert await response.read() == body
        assert response.headers["Content-Type"] == kind
    del css


async def test_the_reserved_prefix_is_never_forwarded(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    client = await start_proxy(upstream)
    for path in (
        "/_a11y/",
        "/_a11y/secret",
        "/_a11y/css/..%2F..%2Fpyproject.toml",
        "/_a11y/css/nope.css",
    ):
        response = await client.get(path)
        assert response.status == 404
        assert "charset=utf-8" in response.headers["Content-Type"]
    assert upstream.seen == []


async def test_a_dead_upstream_gives_a_plain_502_page(start_proxy: ProxyFactory) -> None:
    from yarl import URL

    client = await start_proxy(URL(f"http://127.0.0.1:{free_port()}"))
    response = await client.get("/news")
    assert response.status == 502
    page = soup(await response.text())
    assert page.select_one("h1") is not None and "not reachable" in page.select_one("h1").get_text()  # type: ignore[union-attr]
    assert page.select_one("link[rel=stylesheet]")["href"].startswith("/_a11y/page.css")  # type: ignore[index, union-attr]
    assert "127.0.0.1" not in await response.text()
    css = await client.get(str(page.select_one("link[rel=stylesheet]")["href"]))  # type: ignore[index]
    assert css.status == 200


async def test_a_slow_upstream_gives_a_504_page(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(text="late")

    upstream.route("/slow", slow)
    client = await start_proxy(upstream, read_timeout=0.3)
    response = await client.get("/slow", headers={"Accept-Language": "uk,en;q=0.5"})
    assert response.status == 504
    page = soup(await response.text())
    assert page.html is not None and page.html["lang"] == "uk"


async def test_a_repeated_page_is_served_from_the_cache(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/", html_page(), headers={"Cache-Control": "max-age=60"})
    client = await start_proxy(upstream)
    first = await (await client.get("/")).text()
    second = await client.get("/")
    assert await second.text() == first
    assert upstream.hits("/") == 1
    assert "Age" in second.headers
    # Another mode of the same page needs no new fetch either.
    await client.get("/", headers={"Cookie": "a11y_mode=blue-150"})
    await client.get("/_a11y/view/bw-200/")
    assert upstream.hits("/") == 1


async def test_private_and_personal_pages_are_not_stored(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/private", html_page(), headers={"Cache-Control": "private, max-age=60"})
    upstream.page("/nostore", html_page(), headers={"Cache-Control": "no-store"})
    upstream.page(
        "/cookie", html_page(), headers={"Cache-Control": "max-age=60", "Set-Cookie": "s=1"}
    )
    upstream.page("/auth", html_page(), headers={"Cache-Control": "max-age=60"})
    client = await start_proxy(upstream)
    for path in ("/private", "/nostore", "/cookie"):
        await client.get(path)
        await client.get(path)
        assert upstream.hits(path) == 2, path
    await client.get("/auth", headers={"Authorization": "Basic dTpw"})
    await client.get("/auth", headers={"Authorization": "Basic dTpw"})
    assert upstream.hits("/auth") == 2
