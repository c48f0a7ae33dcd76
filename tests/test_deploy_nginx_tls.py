"""The nginx TLS front of deploy/nginx-tls.conf, run by a real nginx on loopback.

https reaches the proxy through nginx; the site sees the public origin in its forwarding fields;
links and the mode cookie follow the https public URL; plain http is sent to https; one request
id is shared by nginx's answer and the proxy's access log.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
from bs4 import BeautifulSoup

from tests.conftest import Upstream, free_port, html_page
from tests.deploy import (
    Example,
    eventually,
    nginx,
    proxy_process,
    read,
    render_example,
    self_signed_certificate,
)

HOST = "a11y.example.gov.ua"


async def test_https_through_the_nginx_example_reaches_the_proxy_with_the_public_origin(
    upstream: Upstream, tmp_path: Path
) -> None:
    origin = await upstream.start()
    upstream.page("/about", html_page(f'<p><a href="{origin}/contacts">Contacts</a></p>'))
    http_port, https_port = free_port(), free_port()
    cert, key = self_signed_certificate(tmp_path, HOST)
    instances = (free_port(), free_port())
    public = f"https://{HOST}:{https_port}"
    example = Example(http_port, https_port, instances, cert, key, tmp_path / "cache")
    tls = ssl.create_default_context(cafile=str(cert))
    args = ("--upstream", str(origin), "--public-url", public, "--trusted-proxies", "127.0.0.1")

    async with (
        proxy_process(tmp_path, *args, port=instances[0]) as first,
        proxy_process(tmp_path, *args, port=instances[1]) as second,
        nginx(tmp_path, render_example(example), (http_port, https_port)),
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls)) as session,
    ):
        headers = {"Host": f"{HOST}:{https_port}"}
        async with session.get(f"https://127.0.0.1:{https_port}/about", headers=headers) as page:
            assert page.status == 200
            request_id = page.headers["X-Request-Id"]
            soup = BeautifulSoup(await page.text(), "lxml")
        assert soup.select_one("#a11y-proxy-toolbar") is not None
        # The page's own link (not the proxy's link back to its toolbar at the end).
        assert [a["href"] for a in soup.select("p:not([data-a11y-proxy]) a")] == [
            f"{public}/contacts"
        ]

        seen = next(s for s in upstream.seen if s.path_qs == "/about")
        assert seen.headers["X-Forwarded-Proto"] == "https"
        assert seen.headers["X-Forwarded-Host"] == f"{HOST}:{https_port}"
        assert seen.headers["Host"] == origin.raw_authority
        assert seen.headers["X-Forwarded-For"].split(", ")[0] == "127.0.0.1"
        # nginx's id went to the proxy (which logged it) and on to the site.
        assert seen.headers["X-Request-Id"] == request_id
        # The access line is written just after the answer has gone.
        await eventually(
            lambda: any(
                '"GET /about HTTP/1.1" 200' in line and request_id in line
                for line in (read(first.log) + read(second.log)).splitlines()
            )
        )

        # Opening a shared mode link remembers the mode in a Secure cookie.
        async with session.get(
            f"https://127.0.0.1:{https_port}/_a11y/keep/blue-150.css", headers=headers
        ) as sheet:
            cookie = sheet.headers["Set-Cookie"]
        assert cookie.startswith("a11y_mode=blue-150") and "Secure" in cookie

        # Plain http is sent to the https public origin, path kept.
        async with session.get(
            f"http://127.0.0.1:{http_port}/about?x=1", headers=headers, allow_redirects=False
        ) as redirect:
            assert redirect.status == 301
            assert redirect.headers["Location"] == f"https://{HOST}:{https_port}/about?x=1"
