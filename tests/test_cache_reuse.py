"""One rewrite per distinct upstream body: cache-busting query strings cost a fetch and a hash.

The rewrites are counted by the proxy's own metrics (``rewrite_seconds`` counts each page
and stylesheet the rewrite pool made); what each reader gets is read from the page.
"""

from __future__ import annotations

import asyncio
import re

from aiohttp import web
from aiohttp.test_utils import TestClient
from bs4 import BeautifulSoup

from proxy.cache.pages import MADE_SHARE, PageCache, made_from
from proxy.rewriting.rewrite import Page
from tests.conftest import ProxyFactory, Upstream, html_page

Client = TestClient[web.Request, web.Application]

PAGE = html_page(
    '<p>news</p><img src="img/photo.png" alt="">',
    head='<link rel="stylesheet" href="css/site.css">',
)
STYLESHEET = "body { font-size: 14px } h1 { font-size: 28px }\n"


def any_query(body: str, content_type: str) -> web.Response:
    return web.Response(
        text=body, content_type=content_type, headers={"Cache-Control": "max-age=600"}
    )


async def rewrites(client: Client, kind: str = "html") -> int:
    """Pages (or stylesheets) the rewrite pool has made so far."""
    text = await (await client.get("/_a11y/metrics")).text()
    match = re.search(rf'^a11y_proxy_rewrite_seconds_count{{kind="{kind}"}} (\S+)$', text, re.M)
    return int(float(match.group(1))) if match else 0


async def test_cache_busting_queries_share_one_rewrite_and_keep_their_own_links(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    async def news(request: web.Request) -> web.Response:
        return any_query(PAGE, "text/html")

    upstream.route("/news/story.html", news)
    client = await start_proxy(upstream)
    queries = [f"utm_source=feed{i}" for i in range(5)] + ["fbclid=IwAR0x", "fbclid=IwAR1y"]
    for query in queries:
        target = f"/news/story.html?{query}"
        page = BeautifulSoup(await (await client.get(target)).text(), "lxml")
        # Per URL: the controls lead to this URL's own view.
        large = page.select_one('#a11y-proxy-toolbar a[href*="/_a11y/view/default-150/"]')
        assert large is not None and large["href"] == f"/_a11y/view/default-150{target}"
        # Per body: relative files the page loads are path-absolute from its directory.
        image = page.select_one("img")
        assert image is not None and image["src"] == "/news/img/photo.png"
        viewed = BeautifulSoup(
            await (await client.get(f"/_a11y/view/blue-150{target}")).text(), "lxml"
        )
        canonical = viewed.select_one('link[rel="canonical"]')
        assert canonical is not None and str(canonical["href"]).endswith(target)
    assert await rewrites(client) == 1
    stats = await (await client.get("/_a11y/stats")).json()
    assert stats["rewrites_reused"] == len(queries) - 1  # the mode links were cache hits


async def test_concurrent_cache_busting_misses_wait_for_one_rewrite(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    async def news(request: web.Request) -> web.Response:
        return any_query(PAGE, "text/html")

    upstream.route("/news/story.html", news)
    client = await start_proxy(upstream)
    answers = await asyncio.gather(*(client.get(f"/news/story.html?fbclid={i}") for i in range(20)))
    for answer in answers:
        assert answer.status == 200 and "a11y-proxy-toolbar" in await answer.text()
    assert await rewrites(client) == 1


async def test_cache_busting_stylesheets_share_one_restyle(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    async def css(request: web.Request) -> web.Response:
        return any_query(STYLESHEET, "text/css")

    upstream.route("/css/site.css", css)
    client = await start_proxy(upstream)
    bodies = {await (await client.get(f"/css/site.css?ver={i}")).read() for i in range(4)}
    assert len(bodies) == 1 and b"var(--a11y-scale" in bodies.pop()
    assert await rewrites(client, "css") == 1


async def test_the_same_bytes_rewritten_differently_are_never_shared(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    """What else shapes the page keeps rewrites apart: the path its relative files are
    resolved from, and the charset the site names."""
    cyrillic = html_page('<p>Привіт</p><img src="a.png" alt="">', head="").replace(
        '<meta charset="utf-8">', ""
    )
    data = cyrillic.encode("windows-1251")
    for path in ("/one/page.html", "/two/page.html"):
        upstream.page(path, data, content_type="text/html; charset=windows-1251")
    upstream.page("/koi/page.html", data, content_type="text/html; charset=koi8-r")
    client = await start_proxy(upstream)
    seen: dict[str, tuple[object, str]] = {}
    for path in ("/one/page.html", "/two/page.html", "/koi/page.html"):
        page = BeautifulSoup(await (await client.get(path)).text(), "lxml")
        image, text = page.select_one("img"), page.select_one("body > p")
        assert image is not None and text is not None
        seen[path] = (image["src"], text.get_text())
    assert seen["/one/page.html"] == ("/one/a.png", "Привіт")
    assert seen["/two/page.html"] == ("/two/a.png", "Привіт")
    assert seen["/koi/page.html"][0] == "/koi/a.png"
    assert seen["/koi/page.html"][1] != "Привіт"  # the same bytes read as KOI8-R
    assert await rewrites(client) == 3


def test_pages_kept_by_their_bytes_take_a_bounded_share_of_the_cache() -> None:
    cache = PageCache(400_000, 100_000)
    share = 400_000 // MADE_SHARE
    keys = [made_from(f"body {i}".encode(), "html", None, None, "/p") for i in range(6)]
    page = Page((b"x" * 30_000, b"", b""), True, "", False)
    for key in keys:
        cache.remember(key, page)
    kept = [key for key in keys if cache.made(key) is page]
    assert kept == keys[-3:]  # the latest: three pages of 30 KB fit in 100 KB
    huge = made_from(b"huge", "html", None, None, "/p")
    cache.remember(huge, Page((b"x" * share, b"", b""), True, "", False))
    assert cache.made(huge) is None and cache.made(keys[-1]) is page
    # Another path, charset or coding is another key.
    assert cache.made(made_from(b"body 5", "html", None, None, "/q")) is None
    assert cache.made(made_from(b"body 5", "html", "koi8-r", None, "/p")) is None
    assert cache.made(made_from(b"body 5", "html", None, "gzip", "/p")) is None


def test_with_the_cache_off_nothing_is_kept() -> None:
    cache = PageCache(0, 0)
    key = made_from(b"body", "css", None, None)
    cache.remember(key, Page((b"p{}", b"", b""), False, "", True))
    assert cache.made(key) is None
