"""Helpers for the deployment tests: real proxy processes, a real nginx, a real certificate.

Everything listens on loopback ports picked at random, lives in the test's temporary folder and
is stopped by the test that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiohttp
import pytest

from proxy.server.options import PROG
from tests.conftest import free_port

REPO: Final = Path(__file__).resolve().parent.parent
NGINX_EXAMPLE: Final = REPO / "deploy" / "nginx-tls.conf"
#: How long a process may take to start answering before the test fails.
START_TIMEOUT: Final = 20.0
#: Every wait ends as soon as what it waits for happens; this only bounds a failure.
BOUND: Final = 10.0


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        pytest.fail("nginx is not installed: ./test.sh installs Debian's nginx-light")
    return found


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without any A11Y_PROXY_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("A11Y_PROXY_")}
    env.update(extra)
    return env


async def eventually(check: Callable[[], bool | Awaitable[bool]]) -> None:
    """Wait until ``check`` holds (polled), failing after :data:`BOUND` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BOUND
    while True:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        assert loop.time() < deadline, "gave up waiting"
        await asyncio.sleep(0.05)


def read(log: Path) -> str:
    """A log file's text (small: read at once)."""
    return log.read_text(errors="replace")


async def wait_until_live(process: asyncio.subprocess.Process, port: int, log: Path) -> None:
    """Poll the proxy's liveness check until it says live, or fail with its log.

    Our process announces itself once it listens; waiting for that line, and for the process
    to be still running, tells its answers from those of another program that got the same
    port first (other test runs may share the machine).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    url = f"http://127.0.0.1:{port}/_a11y/health/live"
    async with aiohttp.ClientSession() as session:
        while True:
            assert process.returncode is None, f"the proxy stopped:\n{read(log)}"
            try:
                async with session.get(url) as response:
                    live = response.status == 200 and await response.json() == {"status": "live"}
                if live and f"{PROG}: open " in read(log):
                    return
            except (aiohttp.ClientError, ValueError):
                pass
            assert loop.time() < deadline, f"the proxy did not start:\n{read(log)}"
            await asyncio.sleep(0.05)


@dataclass
class ProxyProcess:
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def signal(self, signum: signal.Signals) -> None:
        self.process.send_signal(signum)


@contextlib.asynccontextmanager
async def proxy_process(
    tmp: Path, *args: str, env: Mapping[str, str] | None = None, port: int | None = None
) -> AsyncIterator[ProxyProcess]:
    """``python -m proxy`` with ``args`` on a free port, one worker, answering when yielded."""
    port = port or free_port()
    log = tmp / f"proxy-{port}.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "proxy",
            "--port",
            str(port),
            "--workers",
            "1",
            "--rewrite-processes",
            "0",
            *args,
            cwd=REPO,
            env=dict(env) if env is not None else clean_environment(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = ProxyProcess(process, port, log)
    try:
        await wait_until_live(process, port, log)
        yield running
    finally:
        await stop(process)


async def stop(process: asyncio.subprocess.Process, within: float = 15) -> None:
    """SIGTERM, and SIGKILL if the process is still there ``within`` seconds later."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), within)
        except TimeoutError:
            process.kill()
            await process.wait()


def self_signed_certificate(tmp: Path, host: str) -> tuple[Path, Path]:
    """A certificate for ``host`` and 127.0.0.1, made by the openssl command, and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is not installed (Debian package openssl)")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName=DNS:{host},IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@dataclass(frozen=True)
class Example:
    """What the nginx example is rendered with."""

    http_port: int
    https_port: int
    instances: tuple[int, int]
    cert: Path
    key: Path
    cache: Path
    public_host: str = "a11y.example.gov.ua"


def render_example(example: Example) -> str:
    """deploy/nginx-tls.conf with its documented placeholders replaced for loopback."""
    text = NGINX_EXAMPLE.read_text()
    first, second = example.instances
    replacements = (
        ("    listen [::]:80;\n", ""),
        ("    listen [::]:443 ssl http2;\n", ""),
        ("listen 80;", f"listen 127.0.0.1:{example.http_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{example.https_port} ssl;"),
        ("/etc/ssl/a11y-proxy/fullchain.pem", str(example.cert)),
        ("/etc/ssl/a11y-proxy/privkey.pem", str(example.key)),
        ("/var/cache/nginx/a11y-proxy", str(example.cache)),
        ("127.0.0.1:8080", f"127.0.0.1:{first}"),
        ("127.0.0.1:8081", f"127.0.0.1:{second}"),
        # The redirect names the public site with its real port.
        (
            "https://a11y.example.gov.ua$request_uri",
            f"https://{example.public_host}:{example.https_port}$request_uri",
        ),
    )
    for placeholder, value in replacements:
        assert placeholder in text, f"the example no longer has {placeholder!r}"
        text = text.replace(placeholder, value)
    return text


@contextlib.asynccontextmanager
async def nginx(tmp: Path, http_block: str, ports: tuple[int, ...]) -> AsyncIterator[Path]:
    """A real nginx in the foreground with ``http_block`` inside ``http {}``; yields its folder."""
    root = tmp / "nginx"
    for sub in ("logs", "temp/body", "temp/proxy", "temp/fastcgi", "temp/uwsgi", "temp/scgi"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    # Run as root, nginx hands requests to worker processes of an unprivileged user; ours
    # keep the test's user, so they can write the cache under the test's folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = root / "nginx.conf"
    conf.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {root}/nginx.pid;\n"
        f"error_log {root}/logs/error.log info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {root}/logs/access.log;\n"
        f"    client_body_temp_path {root}/temp/body;\n"
        f"    proxy_temp_path {root}/temp/proxy;\n"
        f"    fastcgi_temp_path {root}/temp/fastcgi;\n"
        f"    uwsgi_temp_path {root}/temp/uwsgi;\n"
        f"    scgi_temp_path {root}/temp/scgi;\n"
        f"{http_block}\n"
        "}\n"
    )
    binary = nginx_binary()
    logs = str(root / "logs/error.log")
    check = await asyncio.create_subprocess_exec(
        binary, "-t", "-p", str(root), "-c", str(conf), "-e", logs, stderr=subprocess.PIPE
    )
    _, errors = await check.communicate()
    assert check.returncode == 0, errors.decode()
    process = await asyncio.create_subprocess_exec(
        binary,
        "-p",
        str(root),
        "-c",
        str(conf),
        "-e",
        logs,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        for port in ports:
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    if process.returncode is not None or loop.time() > deadline:
                        raise
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                await writer.wait_closed()
                break
        yield root
    finally:
        await stop(process)
