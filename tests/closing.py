"""An upstream that closes idle keep-alive connections, and readers that keep running into it.

Apache and Node close a kept-alive connection after about 5 s idle; gunicorn after 2. A
request the proxy sends on such a connection just as it closes crosses the close on the wire:
the server never reads it, and the proxy sees a reset or an end of stream instead of an answer.
On loopback the close arrives in microseconds, so the crossing is rare; across a network it
takes a round trip. ``Closing`` models that trip: a request that arrives within ``latency``
of the server's idle deadline is treated as having crossed the close, and gets none.

Every answer echoes what the server read (method, path, body length and digest) and every
request carries an id, so a reader can tell a lost request, a body that arrived changed, and
a request the server processed twice.

``python -m tests.closing`` prints failed requests per 1,000 for each kind of closing, through
the proxy of this checkout on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import math
import random
import socket
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from yarl import URL

#: Methods readers use, and whether each sends a body.
METHODS: tuple[tuple[str, bool], ...] = (
    ("GET", False),
    ("HEAD", False),
    ("POST", True),
    ("PUT", True),
    ("DELETE", True),
    ("DELETE", False),
)


@dataclass(frozen=True)
class Closer:
    """When the server closes a kept-alive connection: after ``idle`` seconds without a
    request, or, when ``spread`` is set, after a time drawn per connection between ``idle``
    and ``idle + spread`` (at random, as far as the proxy can tell)."""

    name: str
    idle: float
    spread: float = 0.0
    #: A request arriving this soon before the deadline crossed the close on the wire.
    latency: float = 0.05

    def deadline(self, rng: random.Random) -> float:
        return self.idle + rng.uniform(0, self.spread)

    def pause(self, rng: random.Random) -> float:
        """How long a reader waits between requests: around the deadline, either side."""
        return max(0.0, self.idle + self.spread / 2 + rng.uniform(-0.15, 0.15))


CLOSERS = {
    "1s": Closer("1s", 1.0),
    "5s": Closer("5s", 5.0),
    "random": Closer("random", 0.05, spread=1.5),
}
#: No timer: every request that comes on a kept-alive connection crosses its close.
ON_REUSE = Closer("on reuse", 3600.0, latency=math.inf)


@dataclass
class Closing:
    """The upstream: a raw asyncio server, keep-alive, closing as its ``closer`` says."""

    closer: Closer
    url: URL = field(default_factory=URL)
    #: Request id -> how many times the server read it whole and answered it.
    answered: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    crossed: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(1))

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        deadline: float | None = None  # none before the first request, as real servers do
        idle_since = 0.0
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), deadline)
                except TimeoutError:
                    return  # idle too long: closed (the finally writes the FIN)
                if deadline is not None and time.monotonic() > idle_since + deadline - (
                    self.closer.latency
                ):
                    self.crossed += 1
                    _cross(writer, self.rng)
                    return
                body = await _read_body(reader, head)
                writer.write(self._answer(head, body))
                await writer.drain()
                idle_since = time.monotonic()
                deadline = self.closer.deadline(self.rng)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _answer(self, head: bytes, body: bytes) -> bytes:
        method, path, _ = head.split(b" ", 2)
        request_id = _field(head, b"x-request-id") or b"-"
        self.answered[request_id.decode()] += 1
        echo = b"%s %s %d %s" % (method, path, len(body), _digest(body).encode())
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(echo), b"" if method == b"HEAD" else echo)
        )


def _cross(writer: asyncio.StreamWriter, rng: random.Random) -> None:
    """The server closed before the request came: the client sees a reset, or an end."""
    if rng.random() < 0.5:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()


def _field(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


async def _read_body(reader: asyncio.StreamReader, head: bytes) -> bytes:
    length = _field(head, b"content-length")
    if length is not None:
        return await reader.readexactly(int(length))
    if (_field(head, b"transfer-encoding") or b"").lower() != b"chunked":
        return b""
    chunks = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        chunks.append((await reader.readexactly(size + 2))[:-2])
    await reader.readuntil(b"\r\n")  # the end of the chunks (the proxy sends no trailers)
    return b"".join(chunks)


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


@contextlib.asynccontextmanager
async def closing_upstream(closer: Closer) -> AsyncIterator[Closing]:
    site = Closing(closer)
    server = await asyncio.start_server(site.serve, "127.0.0.1", 0)
    site.url = URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    try:
        yield site
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1)


@dataclass
class Tally:
    """What readers saw: requests sent, and the failures by kind."""

    sent: int = 0
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def per_thousand(self) -> float:
        return 1000 * self.failed / self.sent if self.sent else 0.0


Send = Callable[[str, str, bytes | None, dict[str, str]], Awaitable[tuple[int, bytes]]]


async def reader(
    send: Send, closer: Closer | None, number: int, requests: int, max_body: int, tally: Tally
) -> None:
    """One reader: requests one after another, each pause straddling the ``closer``'s deadline
    (None: no pause)."""
    rng = random.Random(number)
    for i in range(requests):
        method, with_body = METHODS[(number + i) % len(METHODS)]
        body = rng.randbytes(rng.choice((0, 10, 3000, 70_000, max_body))) if with_body else None
        request_id = f"r{number}-{i}"
        tally.sent += 1
        try:
            status, echo = await send(
                method, f"/form/{request_id}", body, {"X-Request-ID": request_id}
            )
        except aiohttp.ClientError as exc:
            tally.failures[f"{method} {type(exc).__name__}"] += 1
        else:
            expected = f"{method} /form/{request_id} {len(body or b'')} {_digest(body or b'')}"
            if status != 200:
                tally.failures[f"{method} {status}"] += 1
            elif method != "HEAD" and echo.decode(errors="replace") != expected:
                tally.failures[f"{method} changed on the way"] += 1
        if closer is not None:
            await asyncio.sleep(closer.pause(rng))


async def drive(
    send: Send, site: Closing, readers: int, requests: int, max_body: int, *, pause: bool = True
) -> Tally:
    """``readers`` readers at once, ``requests`` each; duplicates counted from the server."""
    tally = Tally()
    closer = site.closer if pause else None
    await asyncio.gather(
        *(reader(send, closer, n, requests, max_body, tally) for n in range(readers))
    )
    twice = sum(1 for n in site.answered.values() if n > 1)
    if twice:
        tally.failures["processed twice"] += twice
    return tally


def session_sender(session: aiohttp.ClientSession, base: URL | str) -> Send:
    async def send(
        method: str, path: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        async with session.request(method, f"{base}{path}", data=body, headers=headers) as r:
            return r.status, await r.read()

    return send


async def _measure(args: argparse.Namespace) -> None:
    from proxy.server.app import create_app
    from proxy.server.config import Settings
    from proxy.server.lifecycle import runner

    for name in args.closers:
        closer = CLOSERS[name]
        async with closing_upstream(closer) as site:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            public = URL.build(scheme="http", host="127.0.0.1", port=port)
            settings = Settings(
                upstream=site.url,
                public_url=public,
                port=port,
                rewrite_processes=0,
                max_body_bytes=args.max_body,
            )
            proxy = runner(create_app(settings), settings)
            await proxy.setup()
            await web.TCPSite(proxy, "127.0.0.1", port).start()
            try:
                async with aiohttp.ClientSession() as session:
                    send = session_sender(session, public)
                    tally = await drive(send, site, args.readers, args.requests, args.max_body)
            finally:
                await proxy.cleanup()
        print(
            f"closing after {name:>6}: {tally.sent} requests, {tally.failed} failed "
            f"({tally.per_thousand():.1f} per 1,000), {site.crossed} crossed a close, "
            f"{site.connections} upstream connections; {dict(tally.failures)}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--closers", nargs="*", default=list(CLOSERS), choices=list(CLOSERS))
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="per reader")
    parser.add_argument("--max-body", type=int, default=1024 * 1024)
    asyncio.run(_measure(parser.parse_args()))


if __name__ == "__main__":
    main()
