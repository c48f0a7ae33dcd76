"""Real headless Chromium for tests: Debian's chromium, driven by Playwright, the sites it
reads served on loopback, and the real proxy (``python -m proxy``) started as a user starts it."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

import pytest
from aiohttp import web
from playwright.sync_api import Browser, sync_playwright

from tests.conftest import free_port

CHROMIUM: Final = os.environ.get("A11Y_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS: Final = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium; fails (not skips) when it is missing: the README installs it."""
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url) as response:
                response.read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def running_proxy(port: int, args: Sequence[str] = ()) -> Iterator[str]:
    """``python -m proxy`` on ``port`` (the demo site unless ``args`` name an upstream)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("A11Y_PROXY_")}
    with subprocess.Popen(
        [sys.executable, "-m", "proxy", "--port", str(port), "--log-level", "warning", *args],
        stdout=subprocess.DEVNULL,
        env=env,
    ) as process:
        try:
            origin = f"http://127.0.0.1:{port}"
            wait_for(origin + "/_a11y/page.css")
            yield origin
        finally:
            process.terminate()
            process.wait(timeout=15)


class Upstreams:
    """aiohttp applications on loopback ports, run on an event loop of their own thread."""

    def __init__(self, *apps: web.Application) -> None:
        self.apps = apps
        self.origins: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []

    def __enter__(self) -> Upstreams:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    async def _start(self) -> None:
        for app in self.apps:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self._runners.append(runner)
            self.origins.append(f"http://127.0.0.1:{port}")

    async def _stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
