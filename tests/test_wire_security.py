"""Security, end to end: never an open proxy, no echo of input, no files outside the proxy's own.

Request lines are written to a raw socket, because an HTTP client would normalise exactly the
shapes tried here. A second local server, the canary, records any request that reaches it.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from bs4 import BeautifulSoup

from proxy.rewriting.modes import Mode, Theme
from proxy.rewriting.toolbar import mode_link
from tests.conftest import ProxyFactory, Upstream, html_page

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def canary(aiohttp_server: object) -> list[str]:
    """Another site on loopback; the list fills with every request it ever gets."""
    hits: list[str] = []

    async def record(request: web.Request) -> web.Response:
        hits.append(request.raw_path)
        return web.Response(text="canary")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    server: TestServer = await aiohttp_server(app)  # type: ignore[operator]
    hits.append(f"127.0.0.1:{server.port}")  # first item: its address, not a hit
    return hits


async def exchange(client: Client, data: bytes) -> tuple[int, bytes, bytes]:
    """Raw request bytes in; status, head and body of the proxy's answer out."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    try:
        writer.write(data)
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


def get(target: str, *fields: str) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: proxy.test", "Connection: close", *fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def catch_all(upstream: Upstream) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(text="upstream")

    upstream.route("/{path:.*}", answer)


# -- never an open proxy ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_line",
    [
        "GET http://{canary}/steal HTTP/1.1",
        "GET https://{canary}/steal HTTP/1.1",
        "GET //{canary}/steal HTTP/1.1",
        "GET ///{canary}/steal HTTP/1.1",
        "GET /%2F%2F{canary}/steal HTTP/1.1",
        "GET /%2f%2f{canary}%2fsteal HTTP/1.1",
        "GET /%2e%2e/%2e%2e/{canary}/steal HTTP/1.1",
        "GET /..%2F..%2F{canary}/steal HTTP/1.1",
        "GET /../../{canary}/steal HTTP/1.1",
        "GET /\\\\{canary}/steal HTTP/1.1",
        "GET /%5C%5C{canary}/steal HTTP/1.1",
        "GET /@{canary}/steal HTTP/1.1",
        "GET /x@{canary}/steal HTTP/1.1",
        "GET /%40{canary}/steal HTTP/1.1",
        "GET @{canary}/steal HTTP/1.1",
        "GET {canary}/steal HTTP/1.1",
        "GET /%00{canary}/steal HTTP/1.1",
        "GET /\x00{canary}/steal HTTP/1.1",
        "GET /{long}{canary}/steal HTTP/1.1",
        "CONNECT {canary} HTTP/1.1",
        "OPTIONS * HTTP/1.1",
        "GET /_a11y/view/blue-150//{canary}/steal HTTP/1.1",
        "GET /_a11y/view/blue-150/http://{canary}/steal HTTP/1.1",
        "GET /_a11y/view/http://{canary}/steal HTTP/1.1",
    ],
)
async def test_no_request_shape_reaches_another_host(
    upstream: Upstream, start_proxy: ProxyFactory, canary: list[str], request_line: str
) -> None:
    catch_all(upstream)
    client = await start_proxy(upstream)
    address = canary[0]
    line = request_line.format(canary=address, long="a" * 9000)
    data = f"{line}\r\nHost: {address}\r\nConnection: close\r\n\r\n".encode("latin-1")
    status, _, body = await exchange(client, data)
    assert canary[1:] == []
    # Either refused, or answered by the configured upstream and nobody else.
    assert 400 <= status < 500 or (status == 200 and body == b"upstream"), (status, body)
    if status == 200:
        assert len(upstream.seen) == 1


async def test_upstream_redirects_to_another_host_are_not_followed(
    upstream: Upstream, start_proxy: ProxyFactory, canary: list[str]
) -> None:
    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://{canary[0]}/steal")

    upstream.route("/away", away, "GET")
    client = await start_proxy(upstream)
    status, head, _ = await exchange(client, get("/away"))
    assert status == 302
    assert f"Location: http://{canary[0]}/steal".encode() in head.split(b"\r\n")
    assert canary[1:] == []


def trace(method: str, target: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: proxy.test", "Connection: close"]
    return ("\r\n".join([*lines, "Cookie: session=secret"]) + "\r\n\r\n").encode()


@pytest.mark.parametrize("target", ["/", "/news?q=1", "/_a11y/view/blue-150/news", "/_a11y/x"])
async def test_trace_is_refused_with_405_and_allow_before_the_upstream(
    upstream: Upstream, start_proxy: ProxyFactory, target: str
) -> None:
    # It would echo the request back, cookies and credentials included (cross-site tracing).
    catch_all(upstream)
    client = await start_proxy(upstream)
    status, head, body = await exchange(client, trace("TRACE", target))
    assert status == 405
    allow = [line for line in head.split(b"\r\n") if line.lower().startswith(b"allow:")]
    assert len(allow) == 1 and b"GET" in allow[0] and b"TRACE" not in allow[0]
    assert b"secret" not in body
    assert upstream.seen == []


async def test_track_is_refused_before_the_upstream(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    # aiohttp's parser refuses the method as unknown (400); the proxy would answer 405.
    catch_all(upstream)
    client = await start_proxy(upstream)
    status, _, body = await exchange(client, trace("TRACK", "/"))
    assert status in (400, 405) and b"secret" not in body
    assert upstream.seen == []


# -- no input echoed ----------------------------------------------------------------------------

# No spaces: it has to fit in a request line, where a browser's address bar would put it.
HOSTILE = '"><script>alert(1)</script><img/src=x/onerror=alert(2)>'


async def test_a_hostile_address_is_escaped_in_every_link_the_proxy_writes(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/news", html_page("<p>News</p>"))
    client = await start_proxy(upstream)
    target = f"/news?q={HOSTILE}&x='a'"
    for path in (target, "/_a11y/view/blue-150" + target):
        status, _, body = await exchange(client, get(path))
        assert status == 200
        page = BeautifulSoup(body, "lxml")
        assert page.select("script") == [] and page.select("img") == []
        hrefs = [str(a["href"]) for a in page.select("#a11y-proxy-toolbar a")]
        # The address comes back only inside attribute values, as the very string it was.
        assert mode_link("/_a11y/", Mode(Theme.BLUE), target) in hrefs
    canonical = page.select_one("link[rel=canonical]")
    assert canonical is not None and str(canonical["href"]).endswith(target)


async def test_hostile_input_never_reaches_an_error_page(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    client = await start_proxy(upstream)
    for data in (
        get(f"/_a11y/{HOSTILE}"),
        get("/_a11y/x", f"Accept-Language: uk{HOSTILE}", f"Cookie: a11y_mode={HOSTILE}"),
        get(f"/_a11y/view/{HOSTILE}/x", f"Referer: {HOSTILE}"),
    ):
        status, head, body = await exchange(client, data)
        assert 400 <= status < 600
        assert b"<script" not in body and b"onerror" not in body
        assert b"script" not in head.lower() and b"onerror" not in head


async def test_a_hostile_mode_cookie_is_never_echoed_in_a_header(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/", html_page())
    client = await start_proxy(upstream)
    status, head, body = await exchange(
        client, get("/_a11y/keep/blue-150.css", f"Cookie: a11y_mode={HOSTILE}")
    )
    assert status == 200
    assert b"script" not in head and b"Set-Cookie: a11y_mode=blue-150;" in head
    status, head, body = await exchange(client, get("/", f"Cookie: a11y_mode=x\t{HOSTILE}"))
    assert status == 200 and b"script" not in head and b"<script" not in body


@pytest.mark.parametrize(
    "field",
    [
        "X-Test: a\rSet-Cookie: injected=1",
        "X-Test: a\nSet-Cookie: injected=1",
        "X-Test: a\r\n Set-Cookie: injected=1",
        "X-Test: a\x00b",
    ],
)
async def test_cr_lf_and_nul_in_request_fields_are_refused_before_the_upstream(
    upstream: Upstream, start_proxy: ProxyFactory, field: str
) -> None:
    catch_all(upstream)
    client = await start_proxy(upstream)
    status, _, _ = await exchange(client, get("/", field))
    assert status == 400
    assert upstream.seen == []


async def test_encoded_cr_lf_in_an_address_cannot_split_a_response_header(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    # The upstream sends the address back in Location, as sites do after a form post.
    async def back(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.raw_path)

    upstream.route(r"/{path:[\s\S]*}", back, "GET")  # the decoded path holds a newline
    client = await start_proxy(upstream)
    target = "/r%0D%0ASet-Cookie:%20injected=1%0D%0AX-Injected:%201"
    for path in (target, "/_a11y/view/bw-200" + target):
        status, head, _ = await exchange(client, get(path))
        assert status == 302
        lines = head.split(b"\r\n")
        assert not any(line.lower().startswith(b"x-injected") for line in lines)
        assert not any(b"injected=1" in line and b"%" not in line for line in lines)
        assert any(line.startswith(b"Location: ") and b"%0D%0A" in line for line in lines)


# -- the reserved prefix ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/_a11y/css/../../pyproject.toml",
        "/_a11y/css/..%2F..%2Fpyproject.toml",
        "/_a11y/css/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/_a11y/css/..\\..\\pyproject.toml",
        "/_a11y/keep/..%2f..%2fproxy%2fconfig.py",
        "/_a11y/keep/%2fetc%2fpasswd",
        "/_a11y/page.css/../../../etc/passwd",
        "/_a11y/../../../../etc/passwd",
        "/_a11y/..%2f..%2f..%2fetc%2fpasswd",
        "/_a11y/static/../../../../etc/passwd",
        "/_a11y/static/..%2f..%2fpyproject.toml",
        "/_a11y/static/%2e%2e/%2e%2e/proxy/server/config.py",
        "/_a11y/stylesheets/../pyproject.toml",
        "/_a11y/css/toolbar.css/../../../pyproject.toml",
        "/_a11y/css//etc/passwd",
        "/_a11y/css/default-100.css%00.toml",
    ],
)
async def test_the_reserved_prefix_reads_no_file_outside_its_own(
    upstream: Upstream, start_proxy: ProxyFactory, target: str
) -> None:
    catch_all(upstream)
    client = await start_proxy(upstream)
    status, _, body = await exchange(client, get(target))
    assert 400 <= status < 500, (status, body[:200])
    for secret in (b"[build-system]", b"root:", b"class Settings", b"SettingsError"):
        assert secret not in body
    assert upstream.seen == []


async def test_the_proxys_own_files_are_still_served(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    client = await start_proxy(upstream)
    for target in ("/_a11y/css/default-100.css", "/_a11y/keep/bw-200.css", "/_a11y/page.css"):
        status, head, body = await exchange(client, get(target))
        assert status == 200 and b"Content-Type: text/css" in head and body
