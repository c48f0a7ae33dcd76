"""Failures, end to end: a broken upstream or a malformed request is a short page, never a 500.

Upstreams that misbehave on the wire (refuse, reset, stall, stop mid-body, lie about their
length) are raw sockets that do exactly that; the proxy in front of them is the real one.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from bs4 import BeautifulSoup
from yarl import URL

from tests.conftest import ProxyFactory, Upstream, free_port, html_page, serving

Client = TestClient[web.Request, web.Application]
Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawSites:
    """Upstreams whose every connection is handled by a given coroutine, byte by byte."""

    servers: list[asyncio.Server] = field(default_factory=list)
    #: Set at teardown, so upstreams that stall on purpose let go.
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self, behaviour: Behaviour) -> URL:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.readuntil(b"\r\n\r\n")
                await behaviour(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.servers.append(server)
        return URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")

    async def stall(self) -> None:
        await self.release.wait()


@pytest.fixture
async def raw_site() -> AsyncIterator[RawSites]:
    sites = RawSites()
    yield sites
    sites.release.set()
    for server in sites.servers:
        server.close()
        await server.wait_closed()


def answer(data: bytes) -> Behaviour:
    async def write(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(data)
        await writer.drain()

    return write


def failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


async def assert_error_page(
    response: aiohttp.ClientResponse, status: int, *, lang: str = "en"
) -> BeautifulSoup:
    """A short, accessible page of ours that gives nothing of the inside away."""
    assert response.status == status
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-store"
    text = await response.text()
    assert len(text.encode()) < 2048
    page = BeautifulSoup(text, "lxml")
    assert page.html is not None and page.html["lang"] == lang
    assert page.title is not None and page.title.get_text().strip()
    assert page.select_one("main h1") is not None
    assert page.select("main a[href]")
    for leak in ("127.0.0.1", "Traceback", "aiohttp", "Error(", "Connection", "errno"):
        assert leak not in text, leak
    return page


async def answered_by_a_good_page(client: Client, good: Upstream) -> None:
    response = await client.get("/good")
    assert response.status == 200
    assert "Good" in await response.text()


# -- the upstream cannot be reached ---------------------------------------------------------


async def test_connection_refused_is_a_502(
    start_proxy: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = await start_proxy(URL(f"http://127.0.0.1:{free_port()}"))
    caplog.clear()
    response = await client.get("/news", headers={"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"})
    page = await assert_error_page(response, 502, lang="uk")
    assert page.h1 is not None and page.h1.get_text() == "Вебсайт недоступний"
    [line] = failures(caplog)
    assert "\n" not in line.getMessage() and "UpstreamUnreachable" in line.getMessage()


async def test_a_connection_reset_is_a_502(
    raw_site: RawSites, start_proxy: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        writer.transport.abort()

    client = await start_proxy(await raw_site.start(reset))
    caplog.clear()
    await assert_error_page(await client.get("/"), 502)
    assert len(failures(caplog)) == 1


async def test_a_connect_timeout_is_a_504(
    start_proxy: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # A listener whose accept queue is full: the kernel drops further SYNs, so connecting hangs.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        try:
            client = await start_proxy(URL(f"http://127.0.0.1:{port}"), connect_timeout=0.2)
            caplog.clear()
            page = await assert_error_page(await client.get("/"), 504)
        finally:
            for filler in fillers:
                filler.close()
    assert page.h1 is not None and page.h1.get_text() == "The website is taking too long"
    assert len(failures(caplog)) == 1


async def test_a_read_timeout_before_the_answer_is_a_504(
    raw_site: RawSites, start_proxy: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_site.stall()

    client = await start_proxy(await raw_site.start(silent), read_timeout=0.2)
    caplog.clear()
    await assert_error_page(await client.get("/"), 504)
    assert len(failures(caplog)) == 1


async def test_a_read_timeout_in_the_middle_of_a_page_is_a_504(
    raw_site: RawSites, start_proxy: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n<html>"
        )
        await writer.drain()
        await raw_site.stall()

    client = await start_proxy(await raw_site.start(stall), read_timeout=0.2)
    caplog.clear()
    await assert_error_page(await client.get("/"), 504)
    assert len(failures(caplog)) == 1


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_page_that_trickles_in_reaches_the_reader_as_it_comes(
    raw_site: RawSites, start_proxy: ProxyFactory, framing: str
) -> None:
    """The upstream sends half a page, then nothing until the reader has had that half:
    waiting for the whole page to rewrite it would wait forever."""
    page = html_page("<p>" + "a reader's page " * 200 + "</p>").encode()
    first, rest = page[: len(page) // 2], page[len(page) // 2 :]
    release = asyncio.Event()

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
        head += "Cache-Control: max-age=600\r\n"
        if framing == "chunked":
            writer.write(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
            writer.write(b"%x\r\n%s\r\n" % (len(first), first))
        else:
            writer.write(f"{head}Content-Length: {len(page)}\r\n\r\n".encode() + first)
        await writer.drain()
        await release.wait()
        if framing == "chunked":
            writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest))
        else:
            writer.write(rest)
        await writer.drain()

    client = await start_proxy(await raw_site.start(trickle), page_timeout=0.3)
    try:
        # A guard, not a measure: without it a proxy that waits for the rest waits forever.
        response = await asyncio.wait_for(client.get("/news"), 20)
        assert await asyncio.wait_for(response.content.readexactly(len(first)), 20) == first
    finally:
        release.set()
    assert first + await response.read() == page  # the site's bytes, unrewritten
    assert response.headers["Cache-Control"] == "no-store"  # nobody keeps it as the page


# -- the upstream answers badly -----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n<html>",
            id="html-shorter-than-its-content-length",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"6\r\n<html>\r\n",
            id="html-chunks-never-finished",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: many\r\n\r\n<html>",
            id="content-length-not-a-number",
        ),
        pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", id="not-http"),
        pytest.param(b"", id="closed-without-answer"),
    ],
)
async def test_a_broken_answer_is_a_502_and_everyone_else_is_still_served(
    raw_site: RawSites,
    upstream: Upstream,
    start_proxy: ProxyFactory,
    caplog: pytest.LogCaptureFixture,
    data: bytes,
) -> None:
    broken = await start_proxy(await raw_site.start(answer(data)))
    upstream.page("/good", html_page("<p>Good</p>"))
    healthy = await start_proxy(upstream)
    caplog.clear()
    await assert_error_page(await broken.get("/"), 502)
    [line] = failures(caplog)
    assert "\n" not in line.getMessage()
    await answered_by_a_good_page(healthy, upstream)
    # The same proxy keeps answering too: the failure was one request's, not the process's.
    await assert_error_page(await broken.get("/"), 502)


async def test_a_file_cut_short_mid_stream_is_an_aborted_download_not_a_complete_one(
    raw_site: RawSites, start_proxy: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    sent = b"%PDF-1.4 " + b"0" * 100_000
    client = await start_proxy(
        await raw_site.start(
            answer(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\n"
                b"Content-Length: 1000000\r\n\r\n" + sent
            )
        )
    )
    caplog.clear()
    response = await client.get("/report.pdf")
    assert response.status == 200  # the status line was already on its way
    assert response.headers["Content-Length"] == "1000000"
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()
    [line] = failures(caplog)
    assert "broke off" in line.getMessage()
    assert (await client.get("/_a11y/page.css")).status == 200


@pytest.mark.parametrize("server", ["aiohttp's test server", "the command line's runner"])
@pytest.mark.parametrize("leaves", ["before the answer", "mid-download"])
async def test_a_reader_who_leaves_is_no_error_and_frees_the_upstream(
    leaves: str,
    server: str,
    raw_site: RawSites,
    start_proxy: ProxyFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The test server cancels the handler of a browser that left (the fetch it shares runs
    on); the command line's lets it run until it writes to the closed connection."""
    asked, reader_gone, upstream_let_go = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_file(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked.set()
        if leaves == "before the answer":
            await reader_gone.wait()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: 10000000\r\n\r\n"
        )
        try:
            for _ in range(200):
                writer.write(b"0" * 50_000)
                await writer.drain()
                await asyncio.sleep(0.02)
        except ConnectionError:
            upstream_let_go.set()

    async def leave(port: int) -> None:
        # A browser tab closed while the file comes: a socket of its own, shut mid-answer.
        tab_reader, tab = await asyncio.open_connection("127.0.0.1", port)
        tab.write(b"GET /big.pdf HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await tab.drain()
        await asyncio.wait_for(asked.wait(), timeout=3)
        if leaves == "mid-download":
            await tab_reader.readexactly(10_000)
        tab.close()
        await tab.wait_closed()
        reader_gone.set()
        await asyncio.wait_for(upstream_let_go.wait(), timeout=3)
        await asyncio.sleep(0.1)
        assert failures(caplog) == []
        # The proxy serves the next reader as before.
        _, status = await fetch_raw(port, "/_a11y/page.css")
        assert status.startswith(b"HTTP/1.1 200")

    origin = await raw_site.start(slow_file)
    if server == "aiohttp's test server":
        client = await start_proxy(origin)
        caplog.clear()
        assert client.port is not None
        await leave(client.port)
    else:
        async with serving(origin) as port:
            caplog.clear()
            await leave(port)


async def fetch_raw(port: int, path: str) -> tuple[bytes, bytes]:
    """One request on a connection of its own; the whole answer and its status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    answer = await reader.read()
    writer.close()
    return answer, answer.split(b"\r\n", 1)[0]


async def test_one_stalled_upstream_request_does_not_hold_up_others(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="slow")

    upstream.route("/slow", slow, "GET")
    upstream.page("/good", html_page("<p>Good</p>"))
    client = await start_proxy(upstream)
    pending = asyncio.create_task(client.get("/slow"))
    for _ in range(3):
        await answered_by_a_good_page(client, upstream)
    assert not pending.done()
    release.set()
    assert (await pending).status == 200


# -- the request itself is bad ------------------------------------------------------------------


async def raw_exchange(client: Client, data: bytes) -> bytes:
    """Bytes written to the proxy as they are; its whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="long-url"),
        pytest.param(b"GET /?" + b"q=1&" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", id="long-query"),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * 9000 + b"\r\n\r\n",
            id="long-header",
        ),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-F%d: v\r\n" % i for i in range(300))
            + b"\r\n",
            id="too-many-headers",
        ),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 2000, id="endless-head"),
    ],
)
async def test_oversized_requests_get_a_4xx_never_a_500(
    upstream: Upstream, start_proxy: ProxyFactory, request_bytes: bytes
) -> None:
    upstream.page("/good", html_page("<p>Good</p>"))
    client = await start_proxy(upstream)
    reply = await raw_exchange(client, request_bytes + b"\r\n")
    status = int(reply.split(b" ", 2)[1])
    assert 400 <= status < 500, reply[:200]
    assert upstream.seen == []
    await answered_by_a_good_page(client, upstream)


async def test_a_missing_proxy_resource_is_a_page_not_found_not_a_bad_request(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    client = await start_proxy(upstream)
    page = await assert_error_page(await client.get("/_a11y/nothing-here"), 404)
    assert page.h1 is not None and page.h1.get_text() == "Page not found"
    response = await client.get("/_a11y/nothing-here", headers={"Accept-Language": "uk"})
    page = await assert_error_page(response, 404, lang="uk")
    assert page.h1 is not None and page.h1.get_text() == "Сторінку не знайдено"
