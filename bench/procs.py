"""Starting, waiting for and measuring the processes of the benchmark (Linux /proc)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Final

_READY_TIMEOUT: Final = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = _READY_TIMEOUT) -> None:
    """Wait until ``url`` answers at all (any status)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                response.read()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def wait_port(port: int, timeout: float = _READY_TIMEOUT) -> None:
    """Wait until something listens on ``port`` on loopback (a server that speaks no HTTP)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def get(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=60) as response:
        body: bytes = response.read()
        return body


@contextlib.contextmanager
def started(
    argv: Sequence[str], ready_url: str, *, log: IO[bytes] | None = None, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process, running until the block ends; its output goes to ``log``."""
    process = subprocess.Popen(
        list(argv), stdout=log or subprocess.DEVNULL, stderr=log or subprocess.DEVNULL, cwd=cwd
    )
    try:
        try:
            wait_http(ready_url)
        except OSError as exc:
            raise RuntimeError(f"{argv[0]} did not start: {' '.join(argv)}") from exc
        if process.poll() is not None:
            raise RuntimeError(f"{' '.join(argv)} exited with {process.returncode}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    found = [root]
    for pid in found:  # grows while it is walked: breadth first
        found.extend(child for child, parent in parents.items() if parent == pid)
    return found


def status_kib(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM), 0 when the process is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def is_rewriter(pid: int) -> bool:
    """Whether ``pid`` is a rewrite process (started by multiprocessing's spawn)."""
    try:
        return b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return "unknown"


def cpus() -> int:
    return len(os.sched_getaffinity(0))


def size_bytes(text: str) -> int:
    """``64M`` as bytes, as the proxy reads --cache-bytes."""
    units = {"K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024}
    text = text.strip().upper()
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def cpu_seconds(roots: list[int]) -> float:
    """CPU time (user + system) used so far by ``roots`` and every process below them."""
    ticks = 0
    for root in roots:
        for pid in tree(root):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"
