"""Several public names for one site: the same pages, links from the configured public URL,
and nothing of the request's Host in a page or a cache key."""

from __future__ import annotations

from bs4 import BeautifulSoup
from yarl import URL

from tests.conftest import ProxyFactory, Upstream, html_page

PUBLIC = URL("https://a11y.example.gov.ua")
ALIAS = URL("https://www.a11y.example.gov.ua")


async def test_every_host_gets_the_same_page_with_links_to_the_public_url(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    origin = await upstream.start()
    upstream.page(
        "/news/",
        html_page(
            f'<a id="up" href="{origin}/a">upstream</a>'
            f'<a id="alias" href="https://www.a11y.example.gov.ua/b">alias</a>'
            f'<a id="plain" href="http://a11y.example.gov.ua/c">public over http</a>'
            '<a id="other" href="https://elsewhere.example.org/d">elsewhere</a>'
        ),
        headers={"Cache-Control": "max-age=300"},
    )
    client = await start_proxy(upstream, public_url=PUBLIC, public_aliases=(ALIAS,))

    bodies = []
    for host in ("a11y.example.gov.ua", "www.a11y.example.gov.ua", "evil.example.net:8443"):
        response = await client.get(
            "/news/",
            headers={"Host": host, "X-Forwarded-Host": host, "Accept-Encoding": "identity"},
        )
        assert response.status == 200
        bodies.append((await response.read(), response.headers["ETag"]))
    assert bodies[0] == bodies[1] == bodies[2]
    assert upstream.hits("/news/") == 1  # one cache entry served every name

    html = bodies[0][0].decode()
    assert "evil" not in html
    soup = BeautifulSoup(html, "lxml")
    hrefs = {a["id"]: a["href"] for a in soup.select("a[id]")}
    assert hrefs == {
        "up": "https://a11y.example.gov.ua/a",
        "alias": "https://a11y.example.gov.ua/b",
        "plain": "https://a11y.example.gov.ua/c",
        "other": "https://elsewhere.example.org/d",
    }
    seen = upstream.seen[0]
    assert seen.headers["Host"] == origin.raw_authority
    assert seen.headers["X-Forwarded-Host"] == "a11y.example.gov.ua"


async def test_a_redirect_to_an_alias_comes_back_to_the_public_url(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page(
        "/old", "", status=301, headers={"Location": "https://www.a11y.example.gov.ua/new"}
    )
    client = await start_proxy(upstream, public_url=PUBLIC, public_aliases=(ALIAS,))
    response = await client.get("/old", allow_redirects=False)
    assert response.status == 301
    assert response.headers["Location"] == "https://a11y.example.gov.ua/new"
