"""One cache for a deployment: proxies sharing a real redis-server on loopback, which the
tests stop, freeze, restart and fill past its memory limit."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis
from aiohttp import web
from yarl import URL

from proxy.cache.changes import NotifiedChanges
from proxy.cache.redisstore import KEEPALIVE, RedisStore
from tests.conftest import ProxyFactory, Upstream, free_port, html_page
from tests.deploy import clean_environment
from tests.test_cache_e2e import Resource
from tests.test_workers import get_each_on_a_new_connection

PUBLIC = URL("http://a11y.example.test")


@dataclass
class RedisServer:
    """A redis-server of this test's own: no persistence, loopback only."""

    port: int
    directory: Path
    maxmemory: str = "0"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: ./test.sh installs Debian's redis-server")
        self.process = subprocess.Popen(
            [
                binary,
                *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
                *("--appendonly", "no", "--dir", str(self.directory)),
                *("--maxmemory", self.maxmemory, "--maxmemory-policy", "allkeys-lru"),
            ],
            stdout=subprocess.DEVNULL,
        )

    async def ready(self) -> None:
        client = redis.Redis.from_url(self.url)
        try:
            for _ in range(200):
                try:
                    await client.ping()
                    return
                except (redis.ConnectionError, OSError):
                    await asyncio.sleep(0.05)
            pytest.fail("redis-server did not start")
        finally:
            await client.aclose()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def pause(self, paused: bool) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    async def values(self) -> list[bytes]:
        client = redis.Redis.from_url(self.url)
        try:
            found = [await client.get(key) async for key in client.scan_iter()]
            return [value for value in found if isinstance(value, bytes)]
        finally:
            await client.aclose()

    async def info(self, section: str) -> dict[str, Any]:
        client = redis.Redis.from_url(self.url)
        try:
            info: dict[str, Any] = await client.info(section)
            return info
        finally:
            await client.aclose()


@contextmanager
def redis_server(tmp_path: Path, maxmemory: str = "0") -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path, maxmemory)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.pause(False)
            server.kill()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RedisServer]:
    with redis_server(tmp_path) as server:
        await server.ready()
        yield server


@asynccontextmanager
async def proxy_process(origin: URL, store: RedisServer) -> AsyncIterator[int]:
    """``python -m proxy`` as one instance of a deployment: one process, the shared store."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "proxy", "--port", str(port), "--upstream", str(origin)),
        *("--public-url", str(PUBLIC), "--cache-url", store.url, "--workers", "1"),
        *("--rewrite-processes", "0", "--log-level", "warning"),
        stdout=asyncio.subprocess.PIPE,
        env=clean_environment(),
    )
    try:
        assert process.stdout is not None
        for _ in range(2):
            assert await asyncio.wait_for(process.stdout.readline(), 30)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)


async def test_two_proxy_processes_fetch_a_page_once_and_share_invalidations(
    upstream: Upstream, store: RedisServer
) -> None:
    page = Resource(cache_control="max-age=600")

    async def change(request: web.Request) -> web.Response:
        page.body, page.etag = html_page("<p>version two</p>"), '"v2"'
        return web.Response(status=204)

    upstream.route("/news", page.handle, method="GET")
    upstream.route("/news", change, method="POST")
    origin = await upstream.start()
    async with proxy_process(origin, store) as one, proxy_process(origin, store) as two:
        for port in (one, two, one, two):
            (body,) = await get_each_on_a_new_connection(f"http://127.0.0.1:{port}/news", 1)
            assert "version one" in body
        assert page.full == 1
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{one}/news", data=b"x") as posted,
        ):
            assert posted.status == 204
        (body,) = await get_each_on_a_new_connection(f"http://127.0.0.1:{two}/news", 1)
        assert "version two" in body
        assert page.full == 2


async def test_private_pages_never_reach_the_store(
    upstream: Upstream, store: RedisServer, start_proxy: ProxyFactory
) -> None:
    async def personal(request: web.Request) -> web.Response:
        who = request.cookies.get("sid", "nobody")
        return web.Response(
            text=html_page(f"<p>secret of {who}</p>"),
            content_type="text/html",
            headers={"Cache-Control": "max-age=600"},
        )

    upstream.route("/me", personal)
    upstream.route("/set", Resource(extra={"Set-Cookie": "sid=carol; Path=/x"}).handle)
    upstream.route("/private", Resource(cache_control="private, max-age=60").handle)
    upstream.route("/public", Resource(body=html_page("<p>for everyone</p>")).handle)
    client = await start_proxy(upstream, cache_url=store.url, public_url=PUBLIC)
    await client.get("/me", headers={"Cookie": "sid=alice"})
    for path in ("/set", "/private", "/public"):
        await client.get(path)
    stored = b"".join(await store.values())
    assert b"for everyone" in stored
    assert b"secret of alice" not in stored and b"version one" not in stored


async def test_a_store_that_dies_or_freezes_costs_readers_nothing_and_is_used_again(
    upstream: Upstream,
    store: RedisServer,
    start_proxy: ProxyFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pages = {f"/p{n}": Resource(body=html_page(f"<p>page {n}</p>")) for n in range(6)}
    for path, resource in pages.items():
        upstream.route(path, resource.handle)
    fresh = Resource(body=html_page("<p>after the restart</p>"))
    upstream.route("/after", fresh.handle)
    first = await start_proxy(upstream, cache_url=store.url, public_url=PUBLIC)
    second = await start_proxy(upstream, cache_url=store.url, public_url=PUBLIC)

    async def read_all(client: Any) -> None:
        for path in pages:
            answer = await client.get(path)
            assert answer.status == 200
            assert f"page {path[2:]}" in await answer.text()

    await read_all(first)
    with caplog.at_level(logging.WARNING, logger="proxy.cache.shared"):
        store.kill()  # mid-load: the first proxy holds copies of the pages, the second none
        await asyncio.gather(read_all(first), read_all(second), read_all(second))
        warnings = [r.getMessage() for r in caplog.records if "not answering" in r.getMessage()]
    assert len(warnings) == 2  # one per proxy, not one per request
    metrics = await (await second.get("/_a11y/metrics")).text()
    assert "a11y_proxy_cache_store_errors_total 0.0" not in metrics
    assert [resource.full for resource in pages.values()] == [2] * 6  # once each without it

    store.start()  # restarted, empty
    await store.ready()
    await asyncio.sleep(2.1)  # past the pause after a failure
    await second.get("/after")
    assert "after the restart" in await (await first.get("/after")).text()
    assert fresh.full == 1  # shared again

    # Frozen: each operation times out, the readers are served all the same.
    store.pause(True)
    try:
        started = asyncio.get_running_loop().time()
        await read_all(second)
        assert asyncio.get_running_loop().time() - started < 5
    finally:
        store.pause(False)


async def test_a_change_channel_lost_without_a_word_is_noticed(store: RedisServer) -> None:
    """A frozen store drops no connection: only an unanswered PING tells that nothing more
    will come. Until then copies are served as confirmed; after it, every hit asks."""
    notifier = RedisStore(store.url, 0.5)
    changes = NotifiedChanges(notifier, retry_after=0.2)

    async def until(done: Callable[[], bool], seconds: float) -> None:
        for _ in range(int(seconds / 0.05)):
            if done():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("not within the time")

    changes.start()
    try:
        await until(lambda: changes.seen("/a") is not None, 5)
        before = changes.seen("/a")
        store.pause(True)
        try:
            await until(lambda: changes.seen("/a") is None, KEEPALIVE * 3 + 2)
        finally:
            store.pause(False)
        await until(lambda: changes.seen("/a") is not None, 5)
        assert changes.seen("/a") != before  # every copy is confirmed once after the gap
    finally:
        await changes.close()
        await notifier.close()


async def test_a_full_store_evicts_old_pages_and_serves_the_right_ones(
    upstream: Upstream, start_proxy: ProxyFactory, tmp_path: Path
) -> None:
    filler = "".join(f"<p>{os.urandom(60).hex()}</p>" for _ in range(400))  # ~50 KB apiece
    for n in range(80):
        upstream.page(
            f"/big{n}",
            html_page(f"<h1>big {n}</h1>{filler}"),
            headers={"Cache-Control": "max-age=600"},
        )
    with redis_server(tmp_path, maxmemory="2mb") as server:
        await server.ready()
        # A small memory of its own, so the store is what holds the pages.
        client = await start_proxy(
            upstream, cache_url=server.url, public_url=PUBLIC, cache_bytes=1_000_000
        )
        for n in range(80):
            answer = await client.get(f"/big{n}")
            assert answer.status == 200 and f"big {n}</h1>" in await answer.text()
        memory = await server.info("memory")
        stats = await server.info("stats")
        assert stats["evicted_keys"] > 0
        assert memory["used_memory"] <= 2 * 1024 * 1024 * 1.1
        for n in (0, 40, 79):
            assert f"big {n}</h1>" in await (await client.get(f"/big{n}")).text()
        metrics = await (await client.get("/_a11y/metrics")).text()
        assert "a11y_proxy_cache_store_errors_total 0.0" in metrics
