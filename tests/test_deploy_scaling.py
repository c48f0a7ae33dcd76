"""Scaling out: nginx's proxy_cache in front of two stateless proxy instances (deploy example).

Shows, against a real nginx, real proxy processes and a real upstream: mode links are served
from nginx's cache without reaching the proxies or the site; a plain URL, whose mode comes from
the cookie, is never served in another visitor's mode; private pages are never stored; every
public name shares one cache entry with links built from the configured public URL.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
from bs4 import BeautifulSoup
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Upstream, free_port, html_page
from tests.deploy import (
    Example,
    ProxyProcess,
    nginx,
    proxy_process,
    render_example,
    self_signed_certificate,
)

HOST = "a11y.example.gov.ua"
ALIAS = "www.a11y.example.gov.ua"
NEWS = html_page('<h1>News</h1><p><a href="UPSTREAM/news/1">First</a></p>', title="News", lang="en")


async def requests_counted(session: aiohttp.ClientSession, proxies: list[ProxyProcess]) -> float:
    """Requests for the site's pages the proxies answered, summed from their metrics."""
    total = 0.0
    for proxy in proxies:
        async with session.get(f"{proxy.url}/_a11y/metrics") as response:
            text = await response.text()
        for family in text_string_to_metric_families(text):
            if family.name == "a11y_proxy_requests":
                total += sum(
                    s.value
                    for s in family.samples
                    if s.name.endswith("_total") and s.labels["mode"] != "none"
                )
    return total


def stylesheet_mode(html: str) -> str:
    link = BeautifulSoup(html, "lxml").select_one('link[data-a11y-proxy="stylesheet"]')
    assert link is not None
    href = str(link["href"])
    return href.rsplit("/", 1)[1].split(".css")[0]


async def test_nginx_caches_mode_links_keeps_modes_apart_and_stores_nothing_private(
    upstream: Upstream, tmp_path: Path
) -> None:
    origin = await upstream.start()
    upstream.page(
        "/news/", NEWS.replace("UPSTREAM", str(origin)), headers={"Cache-Control": "max-age=300"}
    )
    upstream.page(
        "/account", html_page("<p>Your account</p>"), headers={"Cache-Control": "private"}
    )
    upstream.page(
        "/login",
        html_page("<p>Signed in</p>"),
        headers={"Cache-Control": "max-age=300", "Set-Cookie": "session=s1; Path=/"},
    )
    http_port, https_port = free_port(), free_port()
    cert, key = self_signed_certificate(tmp_path, HOST)
    instances = (free_port(), free_port())
    public = f"https://{HOST}:{https_port}"
    example = Example(http_port, https_port, instances, cert, key, tmp_path / "cache")
    front = f"https://127.0.0.1:{https_port}"
    tls = ssl.create_default_context(cafile=str(cert))
    args = (
        "--upstream",
        str(origin),
        "--public-url",
        public,
        "--public-aliases",
        f"https://{ALIAS}",
    )

    async with (
        proxy_process(tmp_path, *args, port=instances[0]) as first,
        proxy_process(tmp_path, *args, port=instances[1]) as second,
        nginx(tmp_path, render_example(example), (http_port, https_port)),
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as session,
    ):
        proxies = [first, second]

        async def get(
            path: str, cookie: str | None = None, host: str = HOST
        ) -> tuple[str, str, int]:
            headers = {"Host": f"{host}:{https_port}"}
            if cookie is not None:
                headers["Cookie"] = cookie
            async with session.get(front + path, headers=headers) as response:
                return (
                    await response.text(),
                    response.headers.get("X-Cache-Status", ""),
                    response.status,
                )

        # A mode link: fetched through a proxy once, then nginx answers on its own.
        body, status, code = await get("/_a11y/view/blue-150/news/")
        assert code == 200 and status == "MISS" and stylesheet_mode(body) == "blue-150"
        counted = await requests_counted(session, proxies)
        for _ in range(10):
            body, status, code = await get("/_a11y/view/blue-150/news/")
            assert code == 200 and status == "HIT" and stylesheet_mode(body) == "blue-150"
        assert await requests_counted(session, proxies) == counted
        assert upstream.hits("/news/") == 1

        # Another public name of the site: the same cached page, links to the public URL.
        body, status, _ = await get("/_a11y/view/blue-150/news/", host=ALIAS)
        assert status == "HIT"
        links = [a["href"] for a in BeautifulSoup(body, "lxml").select("main a, p a")]
        assert f"{public}/news/1" in links
        assert ALIAS not in body

        # A plain URL takes its mode from the cookie; nginx keeps the variants apart.
        seen: dict[str, set[str]] = {}
        for cookie in ("a11y_mode=blue-150", None, "a11y_mode=bw-200", None, "a11y_mode=blue-150"):
            body, status, code = await get("/news/", cookie)
            assert code == 200
            expected = cookie.split("=")[1] if cookie else "default-100"
            assert stylesheet_mode(body) == expected
            seen.setdefault(expected, set()).add(status)
        # The repeated visitors were answered from nginx's cache, in their own mode.
        assert "HIT" in seen["blue-150"] and "HIT" in seen["default-100"]

        # Private pages and pages that set a cookie are never stored.
        for path in ("/account", "/login"):
            for _ in range(3):
                _, status, code = await get(path)
                assert code == 200 and status != "HIT"
            assert upstream.hits(path) == 3
