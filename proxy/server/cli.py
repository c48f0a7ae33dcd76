"""Command line: options (:mod:`proxy.server.options`) -> Settings -> a running proxy.

With no --upstream the proxy starts the bundled demo ministry site on a free loopback port and
stands in front of it, so one command shows the whole product offline.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from aiohttp import web
from yarl import URL

from proxy.cache import hoststore
from proxy.server import logs, settings_file
from proxy.server.config import Settings, SettingsError
from proxy.server.options import PROG, converters, parse_command
from proxy.server.workers import run as run_workers


def announce(settings: Settings, *, demo: bool) -> None:
    what = "the bundled demo ministry site" if demo else str(settings.upstream)
    print(f"{PROG}: serving {what}", flush=True)
    print(f"{PROG}: open {settings.public_url}/ in a browser (Ctrl+C stops)", flush=True)


async def serve(settings: Settings, *, demo: bool) -> None:
    """Run until SIGINT or SIGTERM."""
    from proxy.server.app import create_app  # the shell is imported only when it is going to run
    from proxy.server.lifecycle import runner as runner_for

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
        runner = runner_for(create_app(settings), settings)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, settings.host, settings.port).start()
        announce(settings, demo=demo)
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
        _, check = settings_file.requested(argv)
        if check is not None:
            settings_file.check(check, converters(), parse_command)
            print(f"{check}: ok")
            return 0
        settings, demo, level, workers = parse_command(argv)
    except SettingsError as exc:
        print(f"{PROG}: error: {settings_file.blame(exc, argv, converters())}", file=sys.stderr)
        return 2
    if settings.cache_url is not None and settings.cache_url.startswith("file:"):
        try:
            hoststore.prepare(Path(URL(settings.cache_url).path))
        except (OSError, hoststore.UnsafeDirectory) as exc:
            print(f"{PROG}: error: --cache-url: {exc}", file=sys.stderr)
            return 2
    logs.configure(level, settings.log_format)
    try:
        if workers > 1:
            return run_workers(
                settings, demo=demo, workers=workers, announce=lambda s: announce(s, demo=demo)
            )
        asyncio.run(serve(settings, demo=demo))
    except OSError as exc:  # the port is taken, the address is not ours
        print(
            f"{PROG}: error: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0
