"""The benchmark's results: one table, the ratios the project aims at, and RESULTS.md."""

from __future__ import annotations

import math
import platform
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp

from bench import procs
from bench.load import Load, Shape


@dataclass(frozen=True, slots=True)
class Row:
    section: str
    server: str
    size: str
    how: str
    load: Load
    shape: Shape
    #: CPU time of the server's processes per request, in microseconds (nan: not measured).
    cpu_us: float = float("nan")


@dataclass(frozen=True, slots=True)
class Costs:
    """Per page size: in-process and sequential-HTTP costs, in ms."""

    size: str
    page_bytes: int
    floor_ms: float
    rewrite_ms: float
    first_miss_ms: float
    second_mode_ms: float
    hit_ms: float


@dataclass(slots=True)
class Memory:
    cache_bytes: int
    #: Serving process after start-up and the first pages (the fixed part), KiB.
    idle_kib: int = 0
    #: Highest resident set of the serving process over the whole run (VmHWM), KiB.
    peak_kib: int = 0
    #: Highest resident set of the rewrite processes, summed, KiB.
    rewriters_peak_kib: int = 0
    #: Serving process just before and after the 10 MB downloads, KiB.
    before_stream_kib: int = 0
    after_stream_kib: int = 0


@dataclass(slots=True)
class Results:
    seconds: float
    rows: list[Row] = field(default_factory=list)
    costs: list[Costs] = field(default_factory=list)
    memory: Memory | None = None
    #: (setup, upstream fetches per page) for the shared-cache section.
    fetches: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load_before: str = ""
    load_after: str = ""

    def add(
        self,
        section: str,
        server: str,
        size: str,
        how: str,
        load: Load,
        shape: Shape,
        cpu_us: float = float("nan"),
    ) -> None:
        self.rows.append(Row(section, server, size, how, load, shape, cpu_us))

    def row(self, section: str, server: str, size: str, how: str = "") -> Row | None:
        for row in self.rows:
            if (row.section, row.server, row.size) == (section, server, size) and (
                not how or row.how == how
            ):
                return row
        return None

    def find(self, section: str, server: str, size: str, how: str = "") -> Load | None:
        row = self.row(section, server, size, how)
        return None if row is None else row.load


def _ratio(top: float | None, bottom: float | None) -> str:
    if top is None or bottom is None or bottom == 0 or math.isnan(top) or math.isnan(bottom):
        return "n/a"
    return f"{top / bottom:.2f}"


def _rps(load: Load | None) -> float | None:
    return None if load is None else load.rps


def _row_rps(row: Row | None) -> float | None:
    return None if row is None else row.load.rps


def _cpu(row: Row | None) -> float | None:
    return None if row is None else row.cpu_us


def _us(value: float) -> str:
    return "" if math.isnan(value) else f"{value:,.0f}"


def table(results: Results) -> str:
    lines = [
        "| section | server | page | how | req/s | p50 ms | p99 ms | errors | "
        "server CPU µs/req | load |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in results.rows:
        load, shape = row.load, row.shape
        lines.append(
            f"| {row.section} | {row.server} | {row.size} | {row.how} | {load.rps:,.0f} | "
            f"{load.p50_ms:.2f} | {load.p99_ms:.2f} | {load.errors} | {_us(row.cpu_us)} | "
            f"-t{shape.threads} -c{shape.connections} {shape.seconds:g}s |"
        )
    return "\n".join(lines)


def costs_table(results: Results) -> str:
    lines = [
        "| page | bytes | floor: bs4+lxml parse+serialise ms | proxy rewrite in-process ms | "
        "first miss ms (HTTP) | second-mode miss ms (HTTP) | hit ms (HTTP) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in results.costs:
        lines.append(
            f"| {c.size} | {c.page_bytes:,} | {c.floor_ms:.2f} | {c.rewrite_ms:.2f} | "
            f"{c.first_miss_ms:.2f} | {c.second_mode_ms:.2f} | {c.hit_ms:.2f} |"
        )
    return "\n".join(lines)


def ratios(results: Results, sizes: list[str]) -> str:
    lines = [
        "| page | hit/ceiling req/s (plain, cookie, link) | hit/ceiling by CPU | "
        "hit/nginx req/s | hit/nginx by CPU | miss/floor | second mode - hit ms | "
        "miss req/s proxy/nginx |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        ceiling = results.row("hit", "ceiling", size)
        nginx = results.row("hit", "nginx", size)
        plain = results.row("hit", "proxy", size, "plain")
        cookie = results.row("hit", "proxy", size, "cookie")
        per_mode = ", ".join(
            _ratio(_rps(results.find("hit", "proxy", size, how)), _row_rps(ceiling))
            for how in ("plain", "cookie", "link")
        )
        cost = next((c for c in results.costs if c.size == size), None)
        miss_floor = _ratio(cost.first_miss_ms, cost.floor_ms) if cost else "n/a"
        second = f"{cost.second_mode_ms - cost.hit_ms:.2f}" if cost else "n/a"
        misses = _ratio(
            _rps(results.find("miss", "proxy", size)), _rps(results.find("miss", "nginx", size))
        )
        lines.append(
            f"| {size} | {per_mode} | {_ratio(_cpu(ceiling), _cpu(plain))} | "
            f"{_ratio(_row_rps(cookie), _row_rps(nginx))} | "
            f"{_ratio(_cpu(nginx), _cpu(cookie))} | {miss_floor} | {second} | {misses} |"
        )
    return "\n".join(lines)


def scaling(results: Results) -> str:
    lines = [
        "| server | page | 1 worker req/s | 2 workers req/s | 2/1 | CPU µs/req 1 → 2 |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in results.rows:
        if row.section != "hit, 2 workers":
            continue
        one = results.row("hit", row.server, row.size, row.how)
        rps = _row_rps(one)
        lines.append(
            f"| {row.server} | {row.size} | {rps or 0:,.0f} | {row.load.rps:,.0f} | "
            f"{_ratio(row.load.rps, rps)} | {_us(_cpu(one) or float('nan'))} → "
            f"{_us(row.cpu_us)} |"
        )
    return "\n".join(lines)


def shared(results: Results) -> str:
    """Fetches per page with one cache per deployment, and hits with the shared store."""
    lines = [
        "| setup | upstream fetches per page |",
        "|---|---:|",
        *(f"| {setup} | {per_page:.1f} |" for setup, per_page in results.fetches),
        "",
        "| hits | page | ceiling, 2 processes | nginx, 2 workers | proxy | proxy/ceiling | "
        "proxy/nginx | proxy CPU µs/req |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results.rows:
        if row.server != "proxy" or row.section not in (
            "hit, 2 workers",
            "hit, 2 instances on Redis",
        ):
            continue
        ceiling = _row_rps(results.row("hit, 2 workers", "ceiling", row.size))
        nginx = _row_rps(results.row("hit, 2 workers", "nginx", row.size))
        lines.append(
            f"| {row.section.removeprefix('hit, ')} | {row.size} | {ceiling or 0:,.0f} | "
            f"{nginx or 0:,.0f} | {row.load.rps:,.0f} | {_ratio(row.load.rps, ceiling)} | "
            f"{_ratio(row.load.rps, nginx)} | {_us(row.cpu_us)} |"
        )
    return "\n".join(lines)


def stall(results: Results) -> str:
    alone = results.find("hits while misses", "proxy", "50 KB", "alone")
    busy = results.find("hits while misses", "proxy", "50 KB", "with 1.5 MB misses")
    if alone is None or busy is None:
        return ""
    return (
        f"p99 of 50 KB hits: {alone.p99_ms:.2f} ms alone, {busy.p99_ms:.2f} ms while 1.5 MB "
        f"pages are rewritten: {_ratio(busy.p99_ms, alone.p99_ms)} x (target <= 3)."
    )


def memory(results: Results) -> str:
    m = results.memory
    if m is None:
        return ""
    mib = 1024
    over = (m.peak_kib * 1024 - m.cache_bytes) / (1024 * 1024)
    return "\n".join(
        [
            f"- cache size (--cache-bytes): {m.cache_bytes / (1024 * 1024):.0f} MiB",
            f"- serving process after start-up and first pages: {m.idle_kib / mib:.0f} MiB",
            f"- serving process peak (VmHWM) over the whole run: {m.peak_kib / mib:.0f} MiB "
            f"= cache size + {over:.0f} MiB",
            f"- rewrite process(es) peak, summed: {m.rewriters_peak_kib / mib:.0f} MiB",
            f"- serving process before / after the 10 MB downloads: "
            f"{m.before_stream_kib / mib:.0f} / {m.after_stream_kib / mib:.0f} MiB",
        ]
    )


def machine() -> str:
    return (
        f"{platform.machine()}, {procs.cpu_model()}, {procs.cpus()} CPUs; "
        f"Linux {platform.release()}; Python {sys.version.split()[0]}, "
        f"aiohttp {aiohttp.__version__}"
    )


def document(results: Results, sizes: list[str], nginx_version: str, wrk_version: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "# Benchmark results",
        "",
        f"Run {when} with `python -m bench`{' --quick' if results.seconds < 2 else ''} on "
        f"{machine()}; {nginx_version}; {wrk_version}. All servers, wrk and the upstream share "
        "this machine and talk over loopback. One worker each unless the section says otherwise. "
        f"Load average at the start and the end: {results.load_before} / {results.load_after}. "
        "Server CPU µs/req (CPU time of the server's processes over the requests served) "
        "depends less on what else the machine runs than req/s does.",
        "",
        "## Load (wrk)",
        "",
        table(results),
        "",
        "## Ratios",
        "",
        ratios(results, sizes),
        "",
        stall(results),
        "",
        "## All cores: 2 workers against 1",
        "",
        scaling(results),
        "",
        "## One cache for all workers and instances",
        "",
        "Three pages, each asked for ten times on fresh connections (spread over the workers "
        "by the kernel, or alternating between the instances); then hits against one of the "
        "two instances sharing a Redis, beside the two-worker runs above.",
        "",
        shared(results),
        "",
        "## Costs without load",
        "",
        costs_table(results),
        "",
        "## Memory",
        "",
        memory(results),
        "",
    ]
    if results.notes:
        parts += ["## Notes", "", *(f"- {note}" for note in results.notes), ""]
    return "\n".join(parts)
