"""Real headless Chromium for tests: Debian's chromium, driven by Playwright, and the real
proxy (``python -m proxy``) started as a user starts it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Final

import pytest
from playwright.sync_api import Browser, sync_playwright

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
