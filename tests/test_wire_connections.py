"""Browser connections, end to end: a slow request head and an idle connection are closed.

The proxy runs with the runner the command line uses (its timeouts live there), on a real
port; clients are raw sockets, so they can send a request a byte at a time.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from tests.conftest import Upstream, html_page, serving


async def closed_by_peer(reader: asyncio.StreamReader, within: float) -> bool:
    """Whether the proxy closes the connection within ``within`` seconds."""
    try:
        return await asyncio.wait_for(reader.read(), timeout=within) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


async def answer(reader: asyncio.StreamReader) -> bytes:
    """The body of a 200 answer on a connection that stays open (Content-Length framed)."""
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" not in head
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    return await reader.readexactly(length)


HEAD = b"GET / HTTP/1.1\r\nHost: proxy.test\r\nUser-Agent: slow\r\nAccept: */*\r\n\r\n"


@pytest.fixture
def site(upstream: Upstream) -> Upstream:
    upstream.page("/", html_page("<p>home</p>"))
    return upstream


async def test_a_request_head_sent_a_byte_at_a_time_is_cut_off(site: Upstream) -> None:
    async with serving(site, header_timeout=1.5, keepalive_timeout=30) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        closed = asyncio.ensure_future(closed_by_peer(reader, within=30))
        try:
            # A byte every half second: ever active, never done (the head needs 60 s).
            for byte in HEAD[:-2]:
                if closed.done():
                    break
                writer.write(bytes([byte]))
                await asyncio.sleep(0.5)
            assert await closed, "the connection stayed open while the head trickled in"
            assert 1.5 <= time.monotonic() - started < 10
        finally:
            writer.close()
    assert site.seen == []


async def test_an_idle_keep_alive_connection_is_closed(site: Upstream) -> None:
    async with serving(site, header_timeout=10, keepalive_timeout=1) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(HEAD)
            assert b"home" in await answer(reader)
            assert await closed_by_peer(reader, within=10)
        finally:
            writer.close()


async def test_slow_but_timely_heads_and_slow_bodies_are_served(site: Upstream) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=f"got {len(await request.read())} bytes")

    site.route("/upload", echo, "POST")
    async with serving(site, header_timeout=1, keepalive_timeout=1) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(3):  # each head in two parts, well within the head timeout
                writer.write(HEAD[:20])
                await asyncio.sleep(0.3)
                writer.write(HEAD[20:])
                assert b"home" in await answer(reader)
                await asyncio.sleep(0.5)  # idle, within the keep-alive timeout
            # The body is not the head: an upload may take longer than the head timeout.
            upload = b"POST /upload HTTP/1.1\r\nHost: proxy.test\r\nContent-Length: 6\r\n\r\n"
            writer.write(upload)
            for byte in b"abcdef":
                await asyncio.sleep(0.4)
                writer.write(bytes([byte]))
            assert await answer(reader) == b"got 6 bytes"
        finally:
            writer.close()
