"""Rewrites in a real process pool: a worker that dies costs one unrewritten page, not the proxy."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.browser import wait_for
from tests.conftest import ProxyFactory, Upstream, free_port, html_page


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
