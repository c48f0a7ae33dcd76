"""CPU per cache-busting request: the same page under a new query string each time.

``python -m tests.cachebusting`` serves the benchmark's 50 KB page (``bench/pages.py``) from
an upstream that ignores the query, puts this checkout's proxy in front (rewriting on a thread,
so its CPU is this process's), sends ``?utm_source=N`` requests one after another and prints
the process CPU time per request, the proxy's share and the client's and upstream's alike.
A measurement, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time

import aiohttp
from aiohttp import web
from yarl import URL

from bench.pages import SIZES, page_bytes
from proxy.server.app import create_app
from proxy.server.config import Settings
from proxy.server.lifecycle import runner


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _serve(app: web.Application | web.AppRunner, port: int) -> web.AppRunner:
    run = app if isinstance(app, web.AppRunner) else web.AppRunner(app, access_log=None)
    await run.setup()
    await web.TCPSite(run, "127.0.0.1", port).start()
    return run


async def measure(requests: int, size_name: str) -> tuple[float, float, int]:
    """CPU seconds and wall seconds per request, and the page's size."""
    size = next(s for s in SIZES if s.name == size_name)
    up_port, proxy_port = _port(), _port()
    origin = URL.build(scheme="http", host="127.0.0.1", port=up_port)
    body = page_bytes(size, str(origin))

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            body=body, content_type="text/html", headers={"Cache-Control": "max-age=600"}
        )

    site = web.Application()
    site.router.add_get(size.path, page)
    upstream = await _serve(site, up_port)
    public = URL.build(scheme="http", host="127.0.0.1", port=proxy_port)
    settings = Settings(upstream=origin, public_url=public, port=proxy_port, rewrite_processes=0)
    proxy = await _serve(runner(create_app(settings), settings), proxy_port)
    try:
        async with aiohttp.ClientSession() as session:
            url = f"{public}{size.path}"
            async with session.get(f"{url}?warm=1") as warm:  # connections, first parse
                await warm.read()
            cpu, wall = time.process_time(), time.perf_counter()
            for n in range(requests):
                async with session.get(f"{url}?utm_source=feed{n}") as response:
                    await response.read()
                    assert response.status == 200
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await proxy.cleanup()
        await upstream.cleanup()
    return cpu / requests, wall / requests, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--size", default="medium", choices=[s.name for s in SIZES])
    args = parser.parse_args()
    cpu, wall, nbytes = asyncio.run(measure(args.requests, args.size))
    print(
        f"{nbytes / 1000:.0f} KB page, {args.requests} cache-busting requests: "
        f"{cpu * 1000:.2f} ms CPU and {wall * 1000:.2f} ms wall per request "
        "(client, proxy and upstream in this one process)"
    )


if __name__ == "__main__":
    main()
