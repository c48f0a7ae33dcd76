"""--workers N: one port served by N processes, started and stopped as a user does it.

Which process answered is read from the outside only: the workers share one cache, so the
upstream is asked for a cacheable page once, and a worker that served a page another fetched
counts it in its metrics; the process tree and its listening sockets come from /proc.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from bs4 import BeautifulSoup

from proxy.server.cli import main
from tests.conftest import Upstream, free_port, html_page

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="reads the process tree from Linux's /proc"
)
# Fresh connections, so the kernel spreads them over the workers (with keep-alive it would
# see one connection).
_CONNECTIONS = 24


@asynccontextmanager
async def running_proxy(
    *args: str, stderr: int | None = None
) -> AsyncIterator[tuple[Process, int]]:
    """``python -m proxy ARGS`` on a free port, ready once it has said where to open it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("A11Y_PROXY_")}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "proxy", "--port", str(port), "--log-level", "warning", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        env=env,
    )
    try:
        assert process.stdout is not None
        for _ in range(2):  # "serving ..." and "open ..."
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, "the proxy exited before it was ready"
        yield process, port
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), 30)


async def get_each_on_a_new_connection(url: str, times: int) -> list[str]:
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        bodies = []
        for _ in range(times):
            async with session.get(url) as response:
                assert response.status == 200
                bodies.append(await response.text())
        return bodies


def left_behind() -> tuple[Path, Path]:
    """What runs killed with SIGKILL left in /dev/shm: the store of a supervisor that is gone,
    which the next start removes, and one of a live process (this test's), which it leaves."""
    memory = "/dev/shm"  # noqa: S108 - the place the supervisor uses
    dead = Path(tempfile.mkdtemp(prefix=f"a11y-proxy-cache-{_dead_pid()}-", dir=memory))
    live = Path(tempfile.mkdtemp(prefix=f"a11y-proxy-cache-{os.getpid()}-", dir=memory))
    return dead, live


def swept(dead: Path, live: Path) -> bool:
    kept = live.exists()
    live.rmdir()
    return kept and not dead.exists()


def _dead_pid() -> int:
    """The pid of a process that has ended."""
    child = subprocess.Popen(["true"])  # noqa: S607 - any short-lived process
    child.wait()
    return child.pid


def stores_in_memory() -> set[Path]:
    """The shared stores supervisors made for their runs."""
    return set(Path("/dev/shm").glob("a11y-proxy-cache-*"))  # noqa: S108 - only listed


async def stop(process: Process) -> int:
    process.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(process.wait(), 30)


def descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it ended while we looked
            continue
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found: set[int] = set()
    todo = [root]
    while todo:
        parent = todo.pop()
        children = {pid for pid, ppid in parents.items() if ppid == parent}
        found |= children
        todo.extend(children)
    return found


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def listening_ports(pids: set[int]) -> dict[int, set[int]]:
    """Each TCP port some of ``pids`` listen on, and which of them hold a socket for it."""
    port_of_inode: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                port_of_inode[fields[9]] = int(fields[1].rpartition(":")[2], 16)
    holders: dict[int, set[int]] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            inode = target.removeprefix("socket:[").removesuffix("]")
            if inode in port_of_inode:
                holders.setdefault(port_of_inode[inode], set()).add(pid)
    return holders


async def test_two_workers_serve_one_port_and_fetch_each_page_once(upstream: Upstream) -> None:
    paths = ("/news", "/about", "/contacts")
    for path in paths:
        upstream.page(
            path, html_page(f"<h1>{path}</h1>"), headers={"Cache-Control": "public, max-age=600"}
        )
    origin = await upstream.start()
    args = ("--workers", "2", "--upstream", str(origin), "--rewrite-processes", "0")
    dead, live = left_behind()
    before = stores_in_memory()
    async with running_proxy(*args) as (process, port):
        assert swept(dead, live)
        for path in paths:
            bodies = await get_each_on_a_new_connection(f"http://127.0.0.1:{port}{path}", 10)
            for body in bodies:
                soup = BeautifulSoup(body, "lxml")
                assert soup.select_one("#a11y-proxy-toolbar") is not None
                assert soup.select_one("h1").get_text() == path  # type: ignore[union-attr]
        # Thirty requests spread over both workers; each page came from the site once (with a
        # cache per worker it was once per worker: six fetches).
        assert [upstream.hits(path) for path in paths] == [1, 1, 1]
        # Each worker fetched some pages and took the others' from the store. Which worker
        # answers a scrape is the kernel's choice: of sixteen, some reach each.
        scrapes = await get_each_on_a_new_connection(f"http://127.0.0.1:{port}/_a11y/metrics", 16)
        loads = {
            float(line.split()[-1])
            for metrics in scrapes
            for line in metrics.splitlines()
            if line.startswith("a11y_proxy_cache_store_loads_total")
        }
        assert max(loads) >= 1
        workers = descendants(process.pid)
        assert len(workers) == 2
        assert set(listening_ports(workers)[port]) == workers
        made = stores_in_memory() - before
        assert made  # the store the supervisor made for the run, in memory
        assert await stop(process) == 0
        assert not any(path.exists() for path in made)  # and it goes with the run


async def test_sigterm_stops_every_worker_and_rewrite_process(upstream: Upstream) -> None:
    upstream.page("/", html_page("<p>Home</p>"), headers={"Cache-Control": "max-age=600"})
    origin = await upstream.start()
    async with running_proxy("--workers", "2", "--upstream", str(origin)) as (process, port):
        # Rewrites start each worker's rewrite process, so there are grandchildren to stop.
        await get_each_on_a_new_connection(f"http://127.0.0.1:{port}/", _CONNECTIONS)
        tree = descendants(process.pid)
        assert len(tree) >= 3
        assert await stop(process) == 0
        left = {pid for pid in tree if running(pid)}
        for _ in range(50):  # grandchildren are reaped by init a moment after their parents
            if not left:
                break
            await asyncio.sleep(0.1)
            left = {pid for pid in left if running(pid)}
        assert not left


async def test_sighup_reaches_every_worker_and_stops_none(upstream: Upstream) -> None:
    upstream.page("/", html_page("<p>Home</p>"), headers={"Cache-Control": "max-age=600"})
    origin = await upstream.start()
    args = ("--workers", "2", "--upstream", str(origin), "--rewrite-processes", "0")
    async with running_proxy(*args, stderr=asyncio.subprocess.PIPE) as (process, port):
        # Answering: both workers are up and listen for SIGHUP.
        await get_each_on_a_new_connection(f"http://127.0.0.1:{port}/", _CONNECTIONS)
        workers = descendants(process.pid)
        process.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.5)
        await get_each_on_a_new_connection(f"http://127.0.0.1:{port}/", _CONNECTIONS)
        assert descendants(process.pid) == workers
        assert await stop(process) == 0
        assert process.stderr is not None
        logged = (await process.stderr.read()).decode()
    # Each worker handled the reload itself (there is no --config file to read here).
    assert logged.count("SIGHUP") == 2


async def test_the_demo_site_is_started_once_for_all_workers() -> None:
    async with running_proxy("--workers", "2", "--rewrite-processes", "0") as (process, port):
        bodies = await get_each_on_a_new_connection(f"http://127.0.0.1:{port}/", _CONNECTIONS)
        assert all("Ministry" in body for body in bodies)
        tree = descendants(process.pid)
        holders = listening_ports(tree)
        assert len(holders.pop(port)) == 2
        # Besides the proxy's port, one port, held by one process: the one demo site.
        assert len(holders) == 1
        [demo_holders] = holders.values()
        assert len(demo_holders) == 1
        assert len(tree) == 3
        assert await stop(process) == 0


def test_a_port_in_use_is_refused_before_any_worker_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        argv = ["--workers", "2", "--port", str(port), "--upstream", "http://127.0.0.1:9"]
        assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and err.count("\n") == 1


def test_zero_workers_is_a_bad_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workers", "0"]) == 2
    assert "--workers '0'" in capsys.readouterr().err
