"""Requests to the upstream, end to end: what the upstream receives is exactly what it should.

Every test sends through the real proxy to a real upstream on loopback that records each
request as it arrived (method, raw target, fields, body).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from bs4 import BeautifulSoup
from yarl import URL

from tests.conftest import ProxyFactory, Seen, Upstream

Client = TestClient[web.Request, web.Application]


def at(client: Client, target: str) -> URL:
    """The proxy's URL for a raw target, sent exactly as written (no re-encoding)."""
    return URL(f"http://127.0.0.1:{client.port}{target}", encoded=True)


def echo(upstream: Upstream) -> None:
    """Every path and method of the upstream answers a short text."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text="upstream answer")

    upstream.route("/{path:.*}", answer)


def only(upstream: Upstream) -> Seen:
    assert len(upstream.seen) == 1, [s.path_qs for s in upstream.seen]
    return upstream.seen[0]


# -- method, target and body ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_method_raw_path_and_query_arrive_as_sent(
    upstream: Upstream, start_proxy: ProxyFactory, method: str
) -> None:
    echo(upstream)
    client = await start_proxy(upstream)
    target = "/forms/a%20b;v=1/%D0%BA%D0%B8%D1%97%D0%B2/./x?q=1&q=2&x=%2F&empty=&plus=a+b"
    response = await client.session.request(method, at(client, target))
    assert response.status == 200
    seen = only(upstream)
    assert (seen.method, seen.path_qs) == (method, target)


async def test_an_urlencoded_form_post_arrives_byte_for_byte(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    echo(upstream)
    client = await start_proxy(upstream)
    form = "name=%D0%9E%D0%BB%D0%B5%D0%BD%D0%B0&topic=a+b&consent=on"
    response = await client.post(
        "/appeal?step=2",
        data=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 200
    seen = only(upstream)
    assert seen.method == "POST" and seen.path_qs == "/appeal?step=2"
    assert seen.body == form.encode()
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen.headers["Content-Length"] == str(len(form))


async def test_a_multipart_upload_arrives_byte_for_byte(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    echo(upstream)
    client = await start_proxy(upstream)
    boundary = "----a11yBoundary7MA4YWxk"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="text"\r\n\r\nЗвернення\r\n'
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="scan.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + bytes(range(256)) * 64
        + f"\r\n--{boundary}--\r\n".encode()
    )
    content_type = f"multipart/form-data; boundary={boundary}"
    response = await client.post("/upload", data=body, headers={"Content-Type": content_type})
    assert response.status == 200
    seen = only(upstream)
    assert seen.body == body
    assert seen.headers["Content-Type"] == content_type


async def test_request_bodies_stream_to_the_upstream_as_they_arrive(
    aiohttp_server: object, start_proxy: ProxyFactory
) -> None:
    # The upstream answers once it has the first part; the client sends the rest only after
    # the upstream has seen the first part. A proxy that buffered whole bodies would deadlock.
    first_part_seen = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        first = await request.content.readexactly(5)
        first_part_seen.set()
        rest = await request.content.read()
        return web.Response(text=f"{first.decode()}|{rest.decode()}")

    app = web.Application()
    app.router.add_post("/stream", receive)
    server = await aiohttp_server(app)  # type: ignore[operator]
    client = await start_proxy(URL(f"http://127.0.0.1:{server.port}"))

    async def body() -> AsyncIterator[bytes]:
        yield b"first"
        await first_part_seen.wait()
        yield b"second"

    response = await asyncio.wait_for(client.post("/stream", data=body()), timeout=10)
    assert await response.text() == "first|second"


async def test_a_declared_body_over_the_limit_is_refused_before_the_upstream_sees_it(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    echo(upstream)
    client = await start_proxy(upstream, max_body_bytes=1000)
    response = await client.post("/upload", data=b"x" * 1001)
    assert response.status == 413
    page = BeautifulSoup(await response.text(), "lxml")
    assert page.h1 is not None and page.h1.get_text() == "The request is too large"
    assert upstream.seen == []
    # At the limit, the body goes through whole.
    response = await client.post("/upload", data=b"y" * 1000)
    assert response.status == 200
    assert only(upstream).body == b"y" * 1000


async def test_a_streamed_body_growing_over_the_limit_is_cut_off_with_413(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    echo(upstream)
    client = await start_proxy(upstream, max_body_bytes=64 * 1024)

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(64):  # 1 MiB in all, with no Content-Length (chunked)
            yield b"z" * 16384

    response = await client.post("/upload", data=endless())
    assert response.status == 413
    # The upstream never received a complete request to act on.
    assert [seen for seen in upstream.seen if seen.path_qs == "/upload"] == []


# -- fields -------------------------------------------------------------------------------------


async def test_the_upstream_gets_its_own_host(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    echo(upstream)
    client = await start_proxy(upstream)
    await client.get("/", headers={"Host": "a11y.example.gov.ua"})
    assert only(upstream).headers.getall("Host") == [f"127.0.0.1:{upstream.url.port}"]


async def test_hop_by_hop_fields_stay_on_the_browsers_hop(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    echo(upstream)
    client = await start_proxy(upstream)
    await client.get(
        "/page",
        headers={
            "Connection": "keep-alive, X-Hop-Secret",
            "X-Hop-Secret": "only for the proxy",
            "Keep-Alive": "timeout=5",
            "Proxy-Connection": "keep-alive",
            "TE": "trailers",
            "Upgrade": "h2c",
            "Proxy-Authorization": "Basic cHJveHk6cHJveHk=",
            "X-End-To-End": "kept",
        },
    )
    received = only(upstream).headers
    for name in (
        "X-Hop-Secret",
        "Keep-Alive",
        "Proxy-Connection",
        "TE",
        "Upgrade",
        "Proxy-Authorization",
    ):
        assert name not in received, name
    # Connection, if present at all, is the proxy's own framing of its own hop.
    assert "x-hop-secret" not in received.get("Connection", "").lower()
    assert received["X-End-To-End"] == "kept"


async def test_a_chunked_upload_is_reframed_not_forwarded_with_its_transfer_encoding(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    echo(upstream)
    client = await start_proxy(upstream)

    async def parts() -> AsyncIterator[bytes]:
        for part in (b"one,", b"two,", b"three"):
            yield part

    response = await client.post("/chunks", data=parts())
    assert response.status == 200
    seen = only(upstream)
    assert seen.body == b"one,two,three"
    # At most the proxy's own chunked framing: never the browser's field passed on verbatim.
    assert seen.headers.getall("Transfer-Encoding", []) in ([], ["chunked"])


async def test_forwarding_fields_from_an_untrusted_client_are_replaced(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    echo(upstream)
    client = await start_proxy(upstream)
    await client.get(
        "/",
        headers={
            "X-Forwarded-For": "203.0.113.66",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Port": "443",
            "Forwarded": "for=203.0.113.66;host=evil.example",
            "X-Real-IP": "203.0.113.66",
            "Via": "1.1 edge",
        },
    )
    received = only(upstream).headers
    public = f"127.0.0.1:{client.port}"
    assert received.getall("X-Forwarded-For") == ["127.0.0.1"]
    assert received.getall("X-Forwarded-Host") == [public]
    assert received.getall("X-Forwarded-Proto") == ["http"]
    assert received.getall("Forwarded") == [f'for=127.0.0.1;host="{public}";proto=http']
    assert "X-Real-IP" not in received and "X-Forwarded-Port" not in received
    # Via is end to end: the browser's hops are kept and the proxy adds its own.
    assert received.getall("Via") == ["1.1 edge", "1.1 a11y-proxy"]


async def test_forwarding_fields_from_a_trusted_proxy_are_extended(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    echo(upstream)
    client = await start_proxy(upstream, trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
    await client.get(
        "/",
        headers={
            "X-Forwarded-For": "198.51.100.7, 10.0.0.2",
            "X-Forwarded-Host": "evil.example",
            "Forwarded": 'for=198.51.100.7;proto=https, for="[2001:db8::1]"',
            "X-Real-IP": "198.51.100.7",
        },
    )
    received = only(upstream).headers
    public = f"127.0.0.1:{client.port}"
    assert received.getall("X-Forwarded-For") == ["198.51.100.7, 10.0.0.2, 127.0.0.1"]
    assert received.getall("Forwarded") == [
        'for=198.51.100.7;proto=https, for="[2001:db8::1]"',
        f'for=127.0.0.1;host="{public}";proto=http',
    ]
    assert received["X-Real-IP"] == "198.51.100.7"
    # The public origin is configuration, not something a client (trusted or not) says.
    assert received.getall("X-Forwarded-Host") == [public]


OVERRIDES = {
    "X-Original-URL": "/admin",
    "X-Rewrite-URL": "/admin",
    "X-HTTP-Method-Override": "DELETE",
    "X-HTTP-Method": "DELETE",
    "X-Method-Override": "DELETE",
    "X-Host": "evil.example",
    "X-Forwarded-Server": "evil.example",
}


@pytest.mark.parametrize("trusted", [False, True])
async def test_fields_that_override_the_target_method_or_host_never_reach_the_upstream(
    upstream: Upstream, start_proxy: ProxyFactory, trusted: bool
) -> None:
    echo(upstream)
    proxies = (ipaddress.ip_network("127.0.0.0/8"),) if trusted else ()
    client = await start_proxy(upstream, trusted_proxies=proxies)
    # Cacheable or not, the URL alone decides a page: these would change it behind the key.
    response = await client.get("/news", headers=OVERRIDES)
    assert response.status == 200
    received = only(upstream).headers
    assert [name for name in OVERRIDES if name in received] == []
    assert received["X-Forwarded-For"].endswith("127.0.0.1")


# -- the proxy's own cookie and mode links ---------------------------------------------------


async def test_the_mode_cookie_is_never_sent_upstream_and_every_other_cookie_is(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    echo(upstream)
    client = await start_proxy(upstream)
    await client.get("/a", headers={"Cookie": "session=abc; a11y_mode=blue-150; theme=dark"})
    await client.get("/b", headers={"Cookie": "a11y_mode=bw-200"})
    first, second = upstream.seen
    assert first.headers.getall("Cookie") == ["session=abc; theme=dark"]
    assert "Cookie" not in second.headers


async def test_a_mode_link_reaches_the_upstream_as_the_plain_address(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    echo(upstream)
    client = await start_proxy(upstream)
    response = await client.get(
        "/_a11y/view/bw-200/news/item?id=7&lang=uk", headers={"Cookie": "a11y_mode=blue-150"}
    )
    assert response.status == 200
    await client.post("/_a11y/view/blue-150/appeal?step=1", data=b"text=1")
    get, post = upstream.seen
    assert (get.method, get.path_qs) == ("GET", "/news/item?id=7&lang=uk")
    assert (post.method, post.path_qs, post.body) == ("POST", "/appeal?step=1", b"text=1")
    for seen in upstream.seen:
        assert "a11y" not in str(seen.headers.getall("Cookie", []))


# -- redirects and upgrades ---------------------------------------------------------------------


async def test_redirects_go_to_the_browser_and_are_never_followed(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    echo(upstream)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{upstream.url}/next?from=old")

    async def posted(request: web.Request) -> web.Response:
        raise web.HTTPSeeOther(f"{upstream.url}/thanks")

    upstream.route("/old", moved, "GET")
    upstream.route("/appeal", posted, "POST")
    client = await start_proxy(upstream)
    response = await client.get("/old", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == f"http://127.0.0.1:{client.port}/next?from=old"
    response = await client.post("/appeal", data=b"a=1", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == f"http://127.0.0.1:{client.port}/thanks"
    assert [seen.path_qs for seen in upstream.seen] == ["/old", "/appeal"]


async def test_websocket_upgrades_are_refused_with_a_clear_501(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close()
        return ws

    upstream.route("/live", socket, "GET")
    client = await start_proxy(upstream)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/live")
    assert refused.value.status == 501
    response = await client.get(
        "/live",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert response.status == 501
    page = BeautifulSoup(await response.text(), "lxml")
    assert page.h1 is not None and "not supported" in page.h1.get_text()
    assert upstream.seen == []
