"""Costs measured without load: in this process (the floor, the rewrite) and over one
keep-alive HTTP connection (a first miss, a second mode of a cached page, a hit)."""

from __future__ import annotations

import http.client
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from bs4 import BeautifulSoup
from yarl import URL

from proxy.rewriting.links import LinkMap
from proxy.rewriting.modes import ALL_MODES, COOKIE_NAME
from proxy.rewriting.rewrite import Rules, rewrite
from proxy.server.config import Settings

# Enough runs for a stable median, within a time budget per measurement.
_BUDGET_S: Final = 1.5
_MIN_RUNS: Final = 5
_MAX_RUNS: Final = 200


def median_ms(work: Callable[[], object], budget_s: float = _BUDGET_S) -> float:
    work()  # warm: imports, caches
    runs: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(runs) < _MIN_RUNS or (len(runs) < _MAX_RUNS and time.perf_counter() < deadline):
        start = time.perf_counter()
        work()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def floor_ms(text: str, budget_s: float = _BUDGET_S) -> float:
    """BeautifulSoup + lxml parsing and serialising the page, nothing else."""
    return median_ms(lambda: BeautifulSoup(text, "lxml").decode(), budget_s)


def rewrite_ms(raw: bytes, upstream: str, public: str, budget_s: float = _BUDGET_S) -> float:
    """The proxy's whole rewrite of the page, in this process (no IPC, no HTTP)."""
    defaults = Settings(upstream=URL(upstream), public_url=URL(public))
    rules = Rules(LinkMap(URL(upstream), URL(public)), defaults.hidden_selectors)
    return median_ms(lambda: rewrite(raw, "utf-8", rules), budget_s)


@dataclass(frozen=True, slots=True)
class Sequential:
    """Median latencies over one keep-alive connection, client included."""

    first_miss_ms: float
    second_mode_ms: float
    hit_ms: float


class Client:
    """One keep-alive HTTP/1.1 connection: the least client overhead Python offers."""

    def __init__(self, port: int) -> None:
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def get_ms(self, target: str, mode: str | None = None) -> float:
        headers = {"Cookie": f"{COOKIE_NAME}={mode}"} if mode else {}
        start = time.perf_counter()
        self._connection.request("GET", target, headers=headers)
        response = self._connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise RuntimeError(f"GET {target} -> {response.status}")
        return elapsed

    def close(self) -> None:
        self._connection.close()


def sequential(port: int, path: str, prefix: str, tag: str, pages: int) -> Sequential:
    """First misses, second-mode misses and hits of ``path`` (``pages`` fresh queries)."""
    client = Client(port)
    firsts: list[float] = []
    seconds: list[float] = []
    hits: list[float] = []
    try:
        for number in range(pages):
            target = f"{path}?{tag}={number}"
            firsts.append(client.get_ms(target))
            # Every other way to ask for this page: each is a new variant of the cached page.
            for mode in ALL_MODES[1:]:
                seconds.append(client.get_ms(target, mode.token))
            for mode in ALL_MODES:
                seconds.append(client.get_ms(f"{prefix}view/{mode.token}{target}"))
            for _ in range(5):
                hits.append(client.get_ms(target))
    finally:
        client.close()
    return Sequential(
        statistics.median(firsts), statistics.median(seconds), statistics.median(hits)
    )
