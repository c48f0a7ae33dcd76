"""The benchmark: ceiling, nginx and the proxy on the same pages, in one run, one table.

Starts a local upstream, the proxy in front of it, nginx (sub_filter + proxy_cache) in front of
the same upstream and a bare aiohttp handler sending the proxy's own output; drives each with
wrk; prints the table and writes it to bench/RESULTS.md. It measures, it never fails on a
number.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from bench import load, nginx, procs, report, timing
from bench.load import Shape
from bench.pages import BLOB_PATH, SIZES, Size, page_bytes
from bench.report import Costs, Memory, Results
from bench.servers import FETCHES_PATH
from proxy.server.config import DEFAULT_PREFIX

ROOT: Final = Path(__file__).resolve().parent.parent
RESULTS: Final = ROOT / "bench" / "RESULTS.md"
CACHE_BYTES: Final = "64M"
COOKIE_MODE: Final = "blue-150"
LINK_MODE: Final = "bw-200"
INSTALL: Final = "apt-get install nginx-light wrk"


def find_tools() -> tuple[str, str] | None:
    nginx_binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    wrk_binary = shutil.which("wrk")
    if nginx_binary is None or wrk_binary is None:
        return None
    return nginx_binary, wrk_binary


def _version(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    text = (done.stdout + done.stderr).strip().splitlines()
    return text[0].removeprefix("nginx version: ") if text else argv[0]


@dataclass(frozen=True, slots=True)
class Ports:
    upstream: int
    proxy: int
    ceiling: int
    nginx: int

    @classmethod
    def pick(cls) -> Ports:
        return cls(procs.free_port(), procs.free_port(), procs.free_port(), procs.free_port())


class Bench:
    def __init__(self, folder: Path, nginx_binary: str, seconds: float, quick: bool) -> None:
        self.folder = folder
        self.nginx_binary = nginx_binary
        self.quick = quick
        self.results = Results(seconds)
        self.hit = Shape(seconds, 2, 32)
        self.miss = Shape(seconds, 2, 8)
        self.download = Shape(seconds, 1, 4)
        self.alone = Shape(seconds, 1, 16)
        self.background = Shape(seconds + 1, 1, 4)
        self.ports = Ports.pick()
        self.log: IO[bytes] = (folder / "servers.log").open("wb")
        #: The processes of each server under test, for its CPU time.
        self.pids: dict[str, list[int]] = {}

    def url(self, port: int, path: str) -> str:
        return f"http://127.0.0.1:{port}{path}"

    # -- processes ------------------------------------------------------------------------

    @contextlib.contextmanager
    def upstream(self) -> Iterator[None]:
        argv = [
            sys.executable,
            "-m",
            "bench.servers",
            "upstream",
            "--port",
            str(self.ports.upstream),
        ]
        ready = self.url(self.ports.upstream, SIZES[0].path)
        with procs.started(argv, ready, log=self.log, cwd=ROOT):
            yield

    @contextlib.contextmanager
    def proxy(
        self, workers: int, *, port: int | None = None, extra: Sequence[str] = ()
    ) -> Iterator[subprocess.Popen[bytes]]:
        port = port or self.ports.proxy
        argv = [
            sys.executable,
            "-m",
            "proxy",
            "--upstream",
            self.url(self.ports.upstream, ""),
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--cache-bytes",
            CACHE_BYTES,
            # Access logs off, as for nginx: the table compares serving, not logging.
            "--log-level",
            "warning",
            *extra,
        ]
        ready = self.url(port, f"{DEFAULT_PREFIX}health/live")
        with procs.started(argv, ready, log=self.log, cwd=ROOT) as process:
            if port == self.ports.proxy:
                self.pids["proxy"] = [process.pid]
            yield process

    @contextlib.contextmanager
    def redis(self) -> Iterator[str | None]:
        """A Redis of the run's own, as the instances' shared store; None without one."""
        binary = shutil.which("redis-server")
        if binary is None:
            self.results.notes.append("no redis-server here: the two-instance case was left out")
            yield None
            return
        port = procs.free_port()
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        argv += ["--appendonly", "no", "--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru"]
        process = subprocess.Popen(argv, stdout=self.log, stderr=self.log)
        try:
            procs.wait_port(port)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(20)

    @contextlib.contextmanager
    def ceiling(self, processes: int) -> Iterator[None]:
        argv = [
            sys.executable,
            "-m",
            "bench.servers",
            "ceiling",
            "--port",
            str(self.ports.ceiling),
            "--pages",
            str(self.folder / "pages"),
        ]
        ready = self.url(self.ports.ceiling, SIZES[0].path)
        with contextlib.ExitStack() as stack:
            self.pids["ceiling"] = [
                stack.enter_context(procs.started(argv, ready, log=self.log, cwd=ROOT)).pid
                for _ in range(processes)
            ]
            yield

    @contextlib.contextmanager
    def nginx(self, workers: int) -> Iterator[None]:
        prefix = self.folder / f"nginx-{workers}"
        nginx.prepare(
            prefix, port=self.ports.nginx, upstream_port=self.ports.upstream, workers=workers
        )
        argv = nginx.command(self.nginx_binary, prefix)
        ready = self.url(self.ports.nginx, SIZES[0].path)
        with procs.started(argv, ready, log=self.log) as process:
            self.pids["nginx"] = [process.pid]
            yield

    # -- warming --------------------------------------------------------------------------

    def prime(self, port: int, *, cookie: bool, link: bool, connections: int = 1) -> None:
        """Ask for every page in every way the run will, so the runs measure hits."""
        for size in SIZES:
            for _ in range(connections):  # a new connection each: every worker gets its turn
                procs.get(self.url(port, size.path))
                if cookie:
                    procs.get(self.url(port, size.path), {"Cookie": f"a11y_mode={COOKIE_MODE}"})
                if link:
                    procs.get(self.url(port, f"{DEFAULT_PREFIX}view/{LINK_MODE}{size.path}"))

    def save_proxy_pages(self) -> None:
        """The proxy's plain output of each page, for the ceiling to send."""
        folder = self.folder / "pages"
        folder.mkdir(exist_ok=True)
        for size in SIZES:
            body = procs.get(self.url(self.ports.proxy, size.path))
            (folder / Path(size.path).name).write_bytes(body)

    # -- sections -------------------------------------------------------------------------

    def fetches(self, setup: str, ports: Sequence[int]) -> None:
        """How often the site is asked for each of three pages requested ten times each."""
        pages = SIZES[:3]
        count = self.url(self.ports.upstream, FETCHES_PATH)
        before = int(procs.get(count))
        for size in pages:
            for n in range(10):  # a new connection each: the kernel picks the worker
                procs.get(self.url(ports[n % len(ports)], size.path))
        fetched = int(procs.get(count)) - before
        self.results.fetches.append((setup, fetched / len(pages)))

    def measure(
        self,
        section: str,
        server: str,
        size: str,
        how: str,
        url: str,
        shape: Shape,
        headers: Sequence[str] = (),
        script: Path | None = None,
    ) -> None:
        """One wrk run, and the CPU time the server spent per request during it."""
        before = procs.cpu_seconds(self.pids[server])
        result = load.run(url, shape, headers, script)
        spent = procs.cpu_seconds(self.pids[server]) - before
        cpu_us = spent / result.requests * 1e6 if result.requests else float("nan")
        self.results.add(section, server, size, how, result, shape, cpu_us)

    def hits(self, section: str, workers: int, sizes: Sequence[Size]) -> None:
        cookie = f"Cookie: a11y_mode={COOKIE_MODE}"
        for size in sizes:
            link = f"{DEFAULT_PREFIX}view/{LINK_MODE}{size.path}"
            runs = [
                ("ceiling", "-", self.ports.ceiling, size.path, ()),
                ("nginx", "cookie", self.ports.nginx, size.path, (cookie,)),
                ("proxy", "plain", self.ports.proxy, size.path, ()),
            ]
            if workers == 1:
                runs += [
                    ("proxy", "cookie", self.ports.proxy, size.path, (cookie,)),
                    ("proxy", "link", self.ports.proxy, link, ()),
                ]
            for server, how, port, target, headers in runs:
                url = self.url(port, target)
                self.measure(section, server, size.label, how, url, self.hit, headers)

    def two_instances(self) -> None:
        """Two proxies of one worker each, as on two hosts, sharing one Redis."""
        with self.redis() as store:
            if store is None:
                return
            other = procs.free_port()
            # One public URL, as behind one balancer: instances share pages only then.
            same = ("--cache-url", store, "--public-url", self.url(self.ports.proxy, ""))
            with self.proxy(1, extra=same), self.proxy(1, port=other, extra=same):
                self.fetches("2 instances, one Redis", [self.ports.proxy, other])
                self.prime(self.ports.proxy, cookie=False, link=False)
                for size in SIZES[1:3]:
                    url = self.url(self.ports.proxy, size.path)
                    self.measure(
                        "hit, 2 instances on Redis", "proxy", size.label, "plain", url, self.hit
                    )

    def hits_while_missing(self) -> None:
        medium, xlarge = SIZES[1], SIZES[3]
        section = "hits while misses"
        hits_url = self.url(self.ports.proxy, medium.path)
        alone = load.run(hits_url, self.alone)
        self.results.add(section, "proxy", medium.label, "alone", alone, self.alone)
        script = load.miss_script(self.folder)
        misses = load.start(self.url(self.ports.proxy, xlarge.path), self.background, script=script)
        busy = load.run(hits_url, self.alone)
        self.results.add(section, "proxy", medium.label, "with 1.5 MB misses", busy, self.alone)
        self.results.add(
            section, "proxy", xlarge.label, "the misses", load.finish(misses), self.background
        )

    def misses(self) -> None:
        for size in SIZES:
            for server, port in (("nginx", self.ports.nginx), ("proxy", self.ports.proxy)):
                script = load.miss_script(self.folder)
                url = self.url(port, size.path)
                self.measure("miss", server, size.label, "new query", url, self.miss, (), script)

    def costs(self) -> None:
        upstream = self.url(self.ports.upstream, "")
        public = self.url(self.ports.proxy, "")
        budget = 0.3 if self.quick else 1.5
        pages = (3, 3, 2, 1) if self.quick else (20, 20, 8, 3)
        for size, count in zip(SIZES, pages, strict=True):
            raw = page_bytes(size, upstream)
            floor = timing.floor_ms(raw.decode(), budget)
            rewrite = timing.rewrite_ms(raw, upstream, public, budget)
            seen = timing.sequential(self.ports.proxy, size.path, DEFAULT_PREFIX, "seq", count)
            self.results.costs.append(
                Costs(
                    size.label,
                    len(raw),
                    floor,
                    rewrite,
                    seen.first_miss_ms,
                    seen.second_mode_ms,
                    seen.hit_ms,
                )
            )

    def stream(self, serving: int, memory: Memory) -> None:
        memory.before_stream_kib = procs.status_kib(serving, "VmRSS")
        for server, port in (("nginx", self.ports.nginx), ("proxy", self.ports.proxy)):
            url = self.url(port, BLOB_PATH)
            self.measure("10 MB binary", server, "10 MB", "streamed", url, self.download)
        memory.after_stream_kib = procs.status_kib(serving, "VmRSS")

    def peak(self, root: int, memory: Memory) -> None:
        memory.peak_kib = procs.status_kib(root, "VmHWM")
        memory.rewriters_peak_kib = sum(
            procs.status_kib(pid, "VmHWM") for pid in procs.tree(root)[1:] if procs.is_rewriter(pid)
        )

    # -- the run --------------------------------------------------------------------------

    def run(self) -> Results:
        memory = Memory(cache_bytes=procs.size_bytes(CACHE_BYTES))
        self.results.memory = memory
        self.results.load_before = procs.load_average()
        with self.upstream():
            with self.proxy(1) as proxy, self.nginx(1):
                self.fetches("1 worker", [self.ports.proxy])
                self.save_proxy_pages()
                self.prime(self.ports.proxy, cookie=True, link=True)
                self.prime(self.ports.nginx, cookie=False, link=False)
                memory.idle_kib = procs.status_kib(proxy.pid, "VmRSS")
                with self.ceiling(1):
                    self.hits("hit", 1, SIZES)
                self.hits_while_missing()
                self.costs()
                self.misses()
                self.stream(proxy.pid, memory)
                self.peak(proxy.pid, memory)
            with self.proxy(2), self.nginx(2), self.ceiling(2):
                self.fetches("2 workers, one host", [self.ports.proxy])
                self.prime(self.ports.proxy, cookie=False, link=False, connections=8)
                self.prime(self.ports.nginx, cookie=False, link=False)
                self.hits("hit, 2 workers", 2, SIZES[1:3])
            self.two_instances()
        self.results.load_after = procs.load_average()
        return self.results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="1 s runs: a smoke test")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each wrk run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    tools = find_tools()
    if tools is None:
        print(f"python -m bench: needs nginx and wrk on this machine: {INSTALL}", file=sys.stderr)
        return 2
    nginx_binary, wrk_binary = tools
    seconds = 1.0 if args.quick else args.seconds
    with tempfile.TemporaryDirectory(prefix="a11y-bench-") as folder:
        bench = Bench(Path(folder), nginx_binary, seconds, args.quick)
        try:
            results = bench.run()
        finally:
            bench.log.close()
    text = report.document(
        results,
        [size.label for size in SIZES],
        _version([nginx_binary, "-v"]),
        _version([wrk_binary, "-v"]),
    )
    print(text)
    if not args.no_write:
        args.out.write_text(text)
    return 0
