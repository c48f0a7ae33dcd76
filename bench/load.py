"""Driving load with wrk and reading its report."""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_UNITS: Final = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_DURATION: Final = re.compile(r"^([\d.]+)(us|ms|s|m)$")

# Each request gets a query no request before it had, across threads and runs: a miss.
_MISS_SCRIPT: Final = """
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function request()
  counter = counter + 1
  return wrk.format(nil, wrk.path .. "?miss=%(nonce)s-" .. id .. "-" .. counter)
end
"""


@dataclass(frozen=True, slots=True)
class Load:
    """What one wrk run measured."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    #: Socket errors, timeouts and non-2xx/3xx answers.
    errors: int


@dataclass(frozen=True, slots=True)
class Shape:
    seconds: float
    threads: int
    connections: int
    timeout_s: int = 30


def miss_script(folder: Path) -> Path:
    path = folder / f"miss-{secrets.token_hex(4)}.lua"
    path.write_text(_MISS_SCRIPT % {"nonce": secrets.token_hex(6)})
    return path


def command(
    url: str, shape: Shape, headers: Sequence[str] = (), script: Path | None = None
) -> list[str]:
    argv = [
        "wrk",
        f"-t{shape.threads}",
        f"-c{shape.connections}",
        f"-d{shape.seconds:g}s",
        f"--timeout={shape.timeout_s}s",
        "--latency",
    ]
    for header in headers:
        argv += ["-H", header]
    if script is not None:
        argv += ["-s", str(script)]
    return [*argv, url]


def start(
    url: str, shape: Shape, headers: Sequence[str] = (), script: Path | None = None
) -> subprocess.Popen[str]:
    """wrk running in the background; :func:`finish` reads its report."""
    return subprocess.Popen(
        command(url, shape, headers, script),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> Load:
    out, _ = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}): {out.strip()}")
    return parse(out)


def run(url: str, shape: Shape, headers: Sequence[str] = (), script: Path | None = None) -> Load:
    return finish(start(url, shape, headers, script))


def parse(report: str) -> Load:
    """The numbers of a ``wrk --latency`` report."""
    rps = float(_field(report, r"Requests/sec:\s+([\d.]+)") or 0)
    requests = int(_field(report, r"(\d+) requests in") or 0)
    errors = sum(
        int(n)
        for n in re.findall(
            r"(?:connect|read|write|timeout) (\d+)", _field(report, r"Socket errors:(.*)") or ""
        )
    )
    errors += int(_field(report, r"Non-2xx or 3xx responses:\s+(\d+)") or 0)
    return Load(
        rps=rps,
        p50_ms=_ms(_field(report, r"^\s+50%\s+(\S+)")),
        p99_ms=_ms(_field(report, r"^\s+99%\s+(\S+)")),
        requests=requests,
        errors=errors,
    )


def _field(report: str, pattern: str) -> str | None:
    match = re.search(pattern, report, re.MULTILINE)
    return match.group(1) if match else None


def _ms(text: str | None) -> float:
    match = _DURATION.match(text or "")
    if match is None:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]
