"""Upstream connections that carry more than the answer asked for are never used again.

A hostile (or broken) upstream writes a whole second response after the body it declared, or
while its connection waits in the pool. That response must never reach another reader, nor the
cache under another reader's URL. The upstream here is a raw asyncio server that writes exact
bytes; the victims are ordinary requests through the real proxy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from tests.conftest import ProxyFactory, html_page

Client = TestClient[web.Request, web.Application]
# An attack writes its answer to /attack/<name>; what it returns is written, on the same
# connection, as the answer to whatever request comes next on it.
Attack = Callable[[asyncio.StreamWriter], Awaitable[bytes]]

INJECTED = "INJECTED-BY-THE-UPSTREAM"


def response(body: str, *, cache_control: str = "max-age=60") -> bytes:
    data = body.encode()
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Cache-Control: {cache_control}\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


SMUGGLED = response(html_page(f"<p>{INJECTED}</p>"), cache_control="public, max-age=3600")
DECLARED = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 5\r\n\r\n"


async def pause() -> None:
    # Long enough for the proxy to read what was written before as a segment of its own.
    await asyncio.sleep(0.05)


async def after_the_body(writer: asyncio.StreamWriter) -> bytes:
    """The head alone, then the body and a whole second response in one write."""
    writer.write(DECLARED)
    await writer.drain()
    await pause()
    writer.write(b"hello" + SMUGGLED)
    return b""


async def in_the_same_write(writer: asyncio.StreamWriter) -> bytes:
    writer.write(DECLARED + b"hello" + SMUGGLED)
    return b""


async def while_idle(writer: asyncio.StreamWriter) -> bytes:
    """A complete answer; the second response comes once the connection is back in the pool."""
    writer.write(DECLARED + b"hello")
    await writer.drain()
    await pause()
    writer.write(SMUGGLED)
    return b""


async def split_head(writer: asyncio.StreamWriter) -> bytes:
    """After the body, the start of a head; the rest of the smuggled response comes later."""
    writer.write(DECLARED)
    await writer.drain()
    await pause()
    writer.write(b"hello" + SMUGGLED[:20])
    await writer.drain()
    await pause()
    writer.write(SMUGGLED[20:])
    return b""


async def head_started_early(writer: asyncio.StreamWriter) -> bytes:
    """After the body, the start of a head, finished only as the answer to the next request:
    a parser that went on from the smuggled start would read the rest as broken."""
    writer.write(DECLARED)
    await writer.drain()
    await pause()
    writer.write(b"hello" + SMUGGLED[:20])
    return SMUGGLED[20:]


ATTACKS: dict[str, Attack] = {
    "after-the-body": after_the_body,
    "in-the-same-write": in_the_same_write,
    "while-idle": while_idle,
    "split-head": split_head,
    "head-started-early": head_started_early,
}


@dataclass
class Hostile:
    url: URL
    connections: int = 0


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    """Keep-alive upstream: /attack/<name> smuggles a response, every other path is honest."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        site.connections += 1
        owed = b""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                attack = ATTACKS.get(path.removeprefix("/attack/"))
                if owed:
                    writer.write(owed)
                    owed = b""
                elif attack is not None:
                    owed = await attack(writer)
                else:
                    writer.write(response(html_page(f"<p>own page {path}</p>")))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    site = Hostile(URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"))
    yield site
    server.close()
    await server.wait_closed()


async def own_page(client: Client, path: str) -> None:
    """The reader of ``path`` gets the page of ``path``: never the smuggled one."""
    answer = await client.get(path)
    text = await answer.text()
    assert INJECTED not in text, f"{path} got the smuggled response"
    assert answer.status == 200 and f"own page {path}" in text, (answer.status, text[:300])


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_a_smuggled_response_reaches_no_other_reader_and_no_cache_entry(
    hostile: Hostile, start_proxy: ProxyFactory, attack: str
) -> None:
    client = await start_proxy(hostile.url)
    victims = [f"/victim/{attack}/{i}" for i in range(40)]
    for round_ in range(3):
        attacked = await client.get(f"/attack/{attack}")
        assert attacked.status == 200 and "hello" in await attacked.text()
        await pause()  # a smuggled response that comes late is in by now
        for path in victims[round_ * 8 : round_ * 8 + 8]:
            await own_page(client, path)
    await asyncio.gather(*(own_page(client, path) for path in victims[24:]))
    # Stored pages come back from the cache now: none of them is the smuggled one.
    for path in victims:
        await own_page(client, path)


async def test_an_honest_upstream_keeps_one_connection_for_many_requests(
    hostile: Hostile, start_proxy: ProxyFactory
) -> None:
    client = await start_proxy(hostile.url)
    for i in range(20):
        await own_page(client, f"/page/{i}")
    assert hostile.connections == 1


# -- answers that bring more than their framing says ----------------------------------------
# An upstream that sends more than its Content-Length, or a 304 with a body:
# the reader gets the answer as its head frames it, the rest is dropped with the connection.

Answer = Callable[[str, str, bytes], bytes]


@dataclass
class Scripted:
    """A keep-alive upstream whose answer to each request head is written in one write."""

    url: URL
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Answer], Awaitable[Scripted]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> Scripted:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            site.connections += 1
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    site.requests.append(head)
                    method, path, _ = head.decode("latin-1").split(" ", 2)
                    writer.write(answer(method, path, head))
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        site = Scripted(URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"))
        return site

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def framed(body: bytes, content_type: str, *, extra: bytes = b"", fields: str = "") -> bytes:
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{fields}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body + extra


PAGE = html_page("<p>the declared page</p>").encode()
EXCESS = {
    "markup": b"<p>EXCESS</p>" * 20,
    "a-response": SMUGGLED,
    "a-status-line": b"HTTP/1.1 200 OK\r\nContent-Le",
    "one-byte": b"\n",
}


def warned(caplog: pytest.LogCaptureFixture, words: str) -> bool:
    return any(r.levelname == "WARNING" and words in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("excess", list(EXCESS))
async def test_a_page_longer_than_its_content_length_is_served_as_declared(
    scripted: Callable[[Answer], Awaitable[Scripted]],
    start_proxy: ProxyFactory,
    caplog: pytest.LogCaptureFixture,
    excess: str,
) -> None:
    def answer(method: str, path: str, head: bytes) -> bytes:
        if path == "/long":
            return framed(PAGE, "text/html; charset=utf-8", extra=EXCESS[excess])
        return response(html_page(f"<p>own page {path}</p>"))

    site = await scripted(answer)
    client = await start_proxy(site.url)
    caplog.clear()
    page = await client.get("/long")
    text = await page.text()
    assert page.status == 200, text[:300]
    assert "the declared page" in text and "a11y-proxy-toolbar" in text
    assert "EXCESS" not in text and INJECTED not in text
    assert warned(caplog, "more than its Content-Length")
    # That connection is gone: the next request is the only one on a connection of its own.
    await own_page(client, "/after")
    assert site.connections == 2


@pytest.mark.parametrize("excess", list(EXCESS))
async def test_a_file_longer_than_its_content_length_is_relayed_as_declared(
    scripted: Callable[[Answer], Awaitable[Scripted]],
    start_proxy: ProxyFactory,
    caplog: pytest.LogCaptureFixture,
    excess: str,
) -> None:
    declared = bytes(range(256)) * 40

    def answer(method: str, path: str, head: bytes) -> bytes:
        if path == "/file.bin":
            return framed(declared, "application/octet-stream", extra=EXCESS[excess])
        return response(html_page(f"<p>own page {path}</p>"))

    site = await scripted(answer)
    client = await start_proxy(site.url)
    caplog.clear()
    relayed = await client.get("/file.bin")
    assert relayed.status == 200
    assert await relayed.read() == declared
    assert warned(caplog, "more than its Content-Length")
    await own_page(client, "/after")
    assert site.connections == 2


async def test_a_304_with_a_body_still_confirms_the_stored_page(
    scripted: Callable[[Answer], Awaitable[Scripted]],
    start_proxy: ProxyFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A buggy upstream answers a revalidation with a 304 that carries the page again."""
    fields = 'ETag: "v1"\r\nCache-Control: max-age=0, must-revalidate\r\n'

    def answer(method: str, path: str, head: bytes) -> bytes:
        if b'If-None-Match: "v1"' not in head:
            return framed(PAGE, "text/html; charset=utf-8", fields=fields)
        return (
            f"HTTP/1.1 304 Not Modified\r\n{fields}Content-Length: {len(PAGE)}\r\n\r\n"
        ).encode() + PAGE

    site = await scripted(answer)
    client = await start_proxy(site.url)
    first = await (await client.get("/news")).text()
    caplog.clear()
    for _ in range(3):
        again = await client.get("/news")
        assert again.status == 200
        assert await again.text() == first
    assert sum(b"If-None-Match" in head for head in site.requests) == 3
    stats = await (await client.get("/_a11y/stats")).json()
    assert stats["revalidations"] == 3
    assert warned(caplog, "a body after a 304")
