"""Where rewrites run: a worker that dies costs one unrewritten page, not the proxy, and a
full queue turns pages away at once rather than make a reader wait behind every other miss."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiohttp import web
from yarl import URL

from proxy.rewriting.links import LinkMap
from proxy.rewriting.rewrite import Page, Rules
from proxy.server.pool import QueueFull, RewritePool
from tests.browser import wait_for
from tests.conftest import ProxyFactory, Upstream, free_port, html_page

RULES = Rules(LinkMap(URL("https://site.example"), URL("https://a11y.example")))


def long_page(number: int) -> bytes:
    """A page of its own, long enough that its rewrite takes a while."""
    rows = "".join(f"<p>page {number}, paragraph {i}</p>" for i in range(3000))
    return html_page(rows, title=f"Page {number}").encode()


async def test_a_dead_rewrite_worker_is_replaced_and_the_page_still_arrives(
    upstream: Upstream, start_proxy: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("one", "two", "three"):
        upstream.page(
            f"/{name}", html_page(f"<p>page {name}</p>"), headers={"Cache-Control": "no-store"}
        )
    client = await start_proxy(upstream, rewrite_processes=1)
    first = await (await client.get("/one")).text()
    assert "a11y-proxy-toolbar" in first  # rewritten in a worker process

    workers = multiprocessing.active_children()
    assert workers
    for worker in workers:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(5)

    second = await client.get("/two")
    assert second.status == 200
    assert "page two" in await second.text()  # relayed as the site sent it, if not rewritten
    assert "a rewrite worker died" in caplog.text
    third = await (await client.get("/three")).text()
    assert "page three" in third and "a11y-proxy-toolbar" in third


async def test_past_the_queue_a_rewrite_is_turned_away_at_once_not_queued() -> None:
    pool = RewritePool(RULES, processes=0, queue=2)
    try:
        # All asked at once: one rewrite runs (a thread), two wait, the rest are turned away.
        outcomes = await asyncio.gather(
            *(pool.rewrite(long_page(n), "utf-8") for n in range(6)), return_exceptions=True
        )
        assert [type(outcome) for outcome in outcomes] == [Page] * 3 + [QueueFull] * 3
        # Once the queue has room again, pages are rewritten again.
        assert isinstance(await pool.rewrite(long_page(9), "utf-8"), Page)
    finally:
        pool.close()


async def test_a_miss_past_a_full_queue_gets_the_page_unrewritten_now_and_not_kept(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    """Misses for many pages at once, and no room to wait: each reader gets its page, the
    ones the queue turned away as the site sent them, which no browser may keep."""
    readers = 16
    arrived = 0
    everyone = asyncio.Event()

    async def page(request: web.Request) -> web.Response:
        nonlocal arrived
        arrived += 1
        if arrived == readers:
            everyone.set()
        await everyone.wait()  # answered together: the misses reach the pool together
        number = int(request.match_info["n"])
        return web.Response(
            body=long_page(number),
            content_type="text/html",
            headers={"Cache-Control": "max-age=600"},
        )

    upstream.route("/p/{n}", page)
    client = await start_proxy(upstream, rewrite_queue=0)
    answers = await asyncio.gather(*(client.get(f"/p/{n}") for n in range(readers)))
    relayed = 0
    for number, answer in enumerate(answers):
        body = await answer.read()
        assert answer.status == 200
        if b"a11y-proxy-toolbar" in body:
            assert answer.headers["Cache-Control"] == "max-age=600"
            continue
        relayed += 1
        assert body == long_page(number)
        assert answer.headers["Cache-Control"] == "no-store"
    assert 0 < relayed < readers  # with no queue, most were turned away, one at least not
    metrics = await (await client.get("/_a11y/metrics")).text()
    counted = re.search(r'^a11y_proxy_rewrite_overflow_total\{kind="html"\} (\S+)$', metrics, re.M)
    assert counted is not None and float(counted.group(1)) == relayed
    # Not stored: asked again, with room in the queue, a page turned away is rewritten.
    turned_away = next(n for n, a in enumerate(answers) if a.headers["Cache-Control"] == "no-store")
    again = await client.get(f"/p/{turned_away}")
    assert b"a11y-proxy-toolbar" in await again.read()


def test_a_rewrite_worker_leaves_when_its_serving_process_is_killed(tmp_path: Path) -> None:
    """SIGKILL gives the serving process no chance to stop its pool: the worker must notice."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("A11Y_PROXY_")}
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "proxy",
            "--port",
            str(port),
            "--workers",
            "1",
            "--rewrite-processes",
            "1",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    ) as server:
        try:
            wait_for(f"http://127.0.0.1:{port}/")  # the demo home page: one rewrite
            children = _children(server.pid)
            assert children, "no rewrite worker was started"
        finally:
            server.kill()
            server.wait(10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"
