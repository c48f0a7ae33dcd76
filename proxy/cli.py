"""Command line: options (or A11Y_PROXY_* environment variables) -> Settings -> a running proxy.

With no --upstream the proxy starts the bundled demo ministry site on a free loopback port and
stands in front of it, so one command shows the whole product offline.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final, NoReturn

from aiohttp import web
from yarl import URL

from proxy.config import MIB, Settings, SettingsError, parse_origin

PROG: Final = "a11y-proxy"
_SIZE: Final = re.compile(r"^\s*(\d+)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)
_UNITS: Final = {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}


def _env(name: str) -> str:
    return "A11Y_PROXY_" + name.upper().replace("-", "_")


def size(text: str) -> int:
    """A byte count such as 262144, 256M or 1G."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError("must be a byte count such as 1048576, 512K, 256M or 1G")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def port_number(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError("must be between 1 and 65535")
    return value


def count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


# option, metavar, converter, default, help
_OPTIONS: Final[tuple[tuple[str, str, Callable[[str], object], str | None, str], ...]] = (
    (
        "upstream",
        "URL",
        str,
        None,
        "origin of the site to stand in front of, e.g. https://moz.example.gov.ua "
        "(default: start the bundled demo ministry site on a free loopback port)",
    ),
    (
        "public-url",
        "URL",
        str,
        None,
        "origin browsers use to reach the proxy; every rewritten link is built from it "
        "(default: http://HOST:PORT)",
    ),
    ("host", "ADDRESS", str, "127.0.0.1", "address to listen on (default: %(default)s)"),
    ("port", "PORT", port_number, "8080", "port to listen on (default: %(default)s)"),
    (
        "prefix",
        "PATH",
        str,
        "/_a11y/",
        "reserved path prefix for the proxy's own files and mode links (default: %(default)s)",
    ),
    (
        "connect-timeout",
        "SECONDS",
        positive_float,
        "5",
        "give up connecting to the upstream after this long: 504 (default: %(default)s)",
    ),
    (
        "read-timeout",
        "SECONDS",
        positive_float,
        "30",
        "give up when the upstream is silent this long: 504 (default: %(default)s)",
    ),
    (
        "cache-bytes",
        "SIZE",
        size,
        "256M",
        "memory for rewritten pages, e.g. 256M; 0 turns the cache off (default: %(default)s)",
    ),
    (
        "cache-entry-bytes",
        "SIZE",
        size,
        "16M",
        "largest single cached page with all its variants (default: %(default)s)",
    ),
    (
        "max-html-bytes",
        "SIZE",
        size,
        "8M",
        "larger HTML pages are relayed unrewritten (default: %(default)s)",
    ),
    (
        "rewrite-processes",
        "N",
        count,
        "1",
        "processes that rewrite pages; 0 uses a thread (default: %(default)s)",
    ),
    ("log-level", "LEVEL", str, "info", "debug, info, warning or error (default: %(default)s)"),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line and status 2, as for a bad value; argparse would add the usage text.
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A reverse proxy that adds a low-vision reading mode (large font, blue, "
        "black and white) to one existing website, without touching the site.",
        epilog="Every option can also be set in the environment as A11Y_PROXY_<OPTION>, "
        "e.g. A11Y_PROXY_UPSTREAM or A11Y_PROXY_PUBLIC_URL; a command-line option wins.",
    )
    for name, metavar, _, default, text in _OPTIONS:
        parser.add_argument(
            f"--{name}", metavar=metavar, default=os.environ.get(_env(name), default), help=text
        )
    return parser


def parse_settings(argv: Sequence[str] | None) -> tuple[Settings, bool, str]:
    """Settings from argv and the environment; raises SettingsError naming a bad option."""
    args = vars(build_parser().parse_args(argv))
    values: dict[str, object] = {}
    for name, _, convert, _, _ in _OPTIONS:
        raw = args[name.replace("-", "_")]
        if raw is None or convert is str:
            values[name] = raw
            continue
        try:
            values[name] = convert(raw)
        except ValueError as exc:
            why = str(exc) if "must" in str(exc) else "not a valid value"
            raise SettingsError(f"--{name}", raw, why) from exc
    level = str(values["log-level"]).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(
            "--log-level", values["log-level"], "must be debug, info, warning or error"
        )
    demo = values["upstream"] is None
    upstream = (
        URL("http://127.0.0.1:1") if demo else parse_origin("--upstream", str(values["upstream"]))
    )
    host = str(values["host"])
    port = int(str(values["port"]))
    public = values["public-url"]
    if public is None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
        public_url = URL.build(scheme="http", host=shown, port=port)
    else:
        public_url = parse_origin("--public-url", str(public))
    settings = Settings(
        upstream=upstream,
        public_url=public_url,
        host=host,
        port=port,
        prefix=str(values["prefix"]),
        connect_timeout=float(str(values["connect-timeout"])),
        read_timeout=float(str(values["read-timeout"])),
        cache_bytes=int(str(values["cache-bytes"])),
        cache_entry_bytes=int(str(values["cache-entry-bytes"])),
        max_html_bytes=int(str(values["max-html-bytes"])),
        rewrite_processes=int(str(values["rewrite-processes"])),
    )
    return settings, demo, level


async def serve(settings: Settings, *, demo: bool) -> None:
    """Run until SIGINT or SIGTERM."""
    from proxy.app import create_app  # the shell is imported only when it is going to run

    runners: list[web.AppRunner] = []
    try:
        if demo:
            from proxy.demo.app import create_demo_app

            demo_runner = web.AppRunner(create_demo_app(), access_log=None)
            await demo_runner.setup()
            runners.append(demo_runner)
            demo_site = web.TCPSite(demo_runner, "127.0.0.1", 0)
            await demo_site.start()
            demo_port = demo_runner.addresses[0][1]
            settings = replace(
                settings, upstream=URL.build(scheme="http", host="127.0.0.1", port=demo_port)
            )
        runner = web.AppRunner(create_app(settings))
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, settings.host, settings.port).start()
        what = "the bundled demo ministry site" if demo else str(settings.upstream)
        print(f"{PROG}: serving {what}", flush=True)
        print(f"{PROG}: open {settings.public_url}/ in a browser (Ctrl+C stops)", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        for one in reversed(runners):
            await one.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings, demo, level = parse_settings(argv)
    except SettingsError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(settings, demo=demo))
    except OSError as exc:  # the port is taken, the address is not ours
        print(
            f"{PROG}: error: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0
