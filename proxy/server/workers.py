"""Several server processes on one port, so every core answers requests.

The process the user started becomes a supervisor that never serves. It binds one listening
socket per worker on the same address with SO_REUSEPORT, and the kernel spreads new connections
evenly over them (one shared socket would let whichever worker wakes first accept a whole burst).
It starts the bundled demo site, when there is one, once, in a process of its own. Then it forks
the workers and only waits: SIGINT or SIGTERM stops every child (each drains its requests as a
single process does); SIGHUP is passed on to every worker, which reloads its tuning; a worker
that dies after it has started is replaced on a fresh socket; any other death stops the proxy.

Forking is safe here because the supervisor never runs an event loop or a thread: each child
starts its own loop after the fork, and its rewrite pool spawns clean processes.

The workers share one cache of rewritten pages (see :mod:`proxy.server.caching`): without
``--cache-url`` the supervisor makes a store for the run in memory (``/dev/shm``) and removes
it at the end, so a page is fetched and rewritten once for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from aiohttp import web
from yarl import URL

from proxy.server.config import Settings

log = logging.getLogger(__name__)

#: A worker that dies sooner than this after its start did not start: starting again would
#: only fail again, so the supervisor stops instead.
STARTUP_GRACE: Final = 5.0
#: How much longer than --shutdown-grace children get after SIGTERM before they are killed.
STOP_MARGIN: Final = 5.0
#: How often a worker checks that its supervisor is still there.
_PARENT_POLL: Final = 1.0
_BACKLOG: Final = 1024
_SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD})


def cpu_count() -> int:
    """The CPUs this process may run on (a container's limit, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def listen(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one address, joined with SO_REUSEPORT.

    Binding once without SO_REUSEPORT first makes a port already in use fail here, with
    EADDRINUSE, instead of silently sharing the traffic with another proxy left running.
    """
    family, _, _, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with _socket(family) as probe:
        probe.bind(address)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(_reuse_port_socket(family, address))
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _socket(family: socket.AddressFamily) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As aiohttp does: a restart can bind while old connections linger in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def _reuse_port_socket(family: socket.AddressFamily, address: tuple[object, ...]) -> socket.socket:
    sock = _socket(family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass(slots=True)
class _Child:
    role: str
    started: float
    #: Where a worker listens, to start its replacement on the same address.
    address: tuple[socket.AddressFamily, tuple[object, ...]] | None = None


def run(
    settings: Settings, *, demo: bool, workers: int, announce: Callable[[Settings], None]
) -> int:
    """Serve ``settings`` from ``workers`` processes until SIGINT or SIGTERM; the exit status.

    ``announce`` is called once every child is started, with the settings the workers run
    (the demo site's address filled in). Raises OSError when the port cannot be bound.
    """
    # Blocked signals wait in the kernel for sigwaitinfo below; none is lost before it runs.
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    children: dict[int, _Child] = {}
    sockets: list[socket.socket] = []
    made: str | None = None
    try:
        sockets = listen(settings.host, settings.port, workers)
        if demo:
            settings = _start_demo(settings, children, sockets)
        # The budget is for the whole proxy, not per process.
        settings = replace(settings, workers=workers)
        if settings.cache_url is None and settings.cache_bytes > 0:
            made = _store_directory()
            settings = replace(settings, cache_url=f"file://{made}")
        while sockets:
            _start_worker(settings, sockets.pop(0), children, sockets)
        announce(settings)
        return _supervise(settings, children)
    finally:
        for sock in sockets:
            sock.close()
        _stop(children, settings.shutdown_grace + STOP_MARGIN)
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)


_STORE_PREFIX: Final = "a11y-proxy-cache-"


def _store_directory() -> str:
    """A private directory for the workers' shared store: in memory where the system has
    one, as the store is a cache and nothing in it needs to outlive the run.

    Its name carries the supervisor's pid, so the directories of runs that were killed
    before they could remove theirs (SIGKILL, a crash) are found and removed here."""
    memory = "/dev/shm"  # noqa: S108 - a private directory made by mkdtemp, mode 0700
    place = Path(memory if os.access(memory, os.W_OK) else tempfile.gettempdir())
    for old in place.glob(f"{_STORE_PREFIX}*-*"):
        pid = old.name.removeprefix(_STORE_PREFIX).partition("-")[0]
        if pid.isdigit() and old.stat().st_uid == os.geteuid() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{_STORE_PREFIX}{os.getpid()}-", dir=place)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _start_demo(
    settings: Settings, children: dict[int, _Child], others: list[socket.socket]
) -> Settings:
    with _socket(socket.AF_INET) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(_BACKLOG)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        pid = _fork(lambda: _serve_demo(sock), close=others)
    children[pid] = _Child("demo site", time.monotonic())
    return replace(settings, upstream=URL.build(scheme="http", host="127.0.0.1", port=port))


def _start_worker(
    settings: Settings,
    sock: socket.socket,
    children: dict[int, _Child],
    others: list[socket.socket],
) -> None:
    """Fork a worker serving ``sock``; ``others`` are the sockets of workers yet to start."""
    with sock:
        # Closed here once the child has it: a socket the supervisor kept open would stay in
        # the SO_REUSEPORT group after its worker died, and its share of connections would hang.
        pid = _fork(lambda: _serve_worker(settings, sock), close=others)
        address = (sock.family, sock.getsockname())
    children[pid] = _Child("worker", time.monotonic(), address)


def _fork(body: Callable[[], None], *, close: list[socket.socket]) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    # The child: never return into the supervisor's code, whatever happens.
    status = 1
    try:
        for sock in close:
            sock.close()
        # Until the worker's loop takes SIGHUP over, a reload must not end it.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        body()
        status = 0
    except KeyboardInterrupt:
        status = 0
    except BaseException:
        log.exception("a proxy process failed")
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _supervise(settings: Settings, children: dict[int, _Child]) -> int:
    while True:
        info = signal.sigwaitinfo(_SIGNALS)
        if info.si_signo == signal.SIGHUP:
            for pid in [pid for pid, one in children.items() if one.address is not None]:
                _signal(pid, signal.SIGHUP)
            continue
        if info.si_signo != signal.SIGCHLD:
            return 0
        for pid, status in _reap():
            child = children.pop(pid, None)
            if child is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if child.address is not None and time.monotonic() - child.started > STARTUP_GRACE:
                log.error("worker %d exited with status %d; starting another", pid, code)
                _start_worker(settings, _reuse_port_socket(*child.address), children, [])
                continue
            log.error("the %s (process %d) exited with status %d; stopping", child.role, pid, code)
            return 1


def _reap() -> list[tuple[int, int]]:
    """Every child that has ended since the last call (one SIGCHLD may stand for several)."""
    ended: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return ended
        if pid == 0:
            return ended
        ended.append((pid, status))


def _stop(children: dict[int, _Child], grace: float) -> None:
    """SIGTERM to every child, SIGKILL to those still running after ``grace`` seconds."""
    for pid in children:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while children:
        for pid, _ in _reap():
            children.pop(pid, None)
        left = deadline - time.monotonic()
        if not children:
            break
        if left <= 0:
            for pid in children:
                _signal(pid, signal.SIGKILL)
            deadline = float("inf")
            continue
        signal.sigtimedwait({signal.SIGCHLD}, min(left, 0.5))


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has just ended
        os.kill(pid, signum)


# -- inside the children ------------------------------------------------------------------


def _serve_worker(settings: Settings, sock: socket.socket) -> None:
    # Imported after the fork: the supervisor holds nothing of the application.
    from proxy.server.app import create_app
    from proxy.server.lifecycle import runner

    asyncio.run(_serve(runner(create_app(settings), settings), sock))


def _serve_demo(sock: socket.socket) -> None:
    from proxy.demo.app import create_demo_app

    asyncio.run(_serve(web.AppRunner(create_demo_app(), access_log=None), sock))


async def _serve(runner: web.AppRunner, sock: socket.socket) -> None:
    """Run ``runner`` on ``sock`` until SIGINT, SIGTERM or the supervisor's death."""
    supervisor = os.getppid()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    def check_parent() -> None:
        # A supervisor killed with SIGKILL cannot stop its children: they notice and leave.
        if os.getppid() != supervisor:
            stop.set()
        else:
            loop.call_later(_PARENT_POLL, check_parent)

    check_parent()
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        await stop.wait()
    finally:
        await runner.cleanup()
