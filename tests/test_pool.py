"""Rewrites in a real process pool: a worker that dies costs one unrewritten page, not the proxy."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from tests.conftest import ProxyFactory, Upstream, html_page


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
