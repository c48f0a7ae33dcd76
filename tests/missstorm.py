"""Misses in a storm, and hits meanwhile: how long each waits, and what the misses get.

``python -m tests.missstorm`` puts this checkout's proxy (one rewrite process, as deployed by
default) in front of an upstream serving the benchmark's 300 KB page with each query written
into it, so every query is a new body to rewrite. ``--readers`` readers at once each ask for
``--pages`` new queries one after another, while one more reader asks again and again for a
page already stored. It prints p50 and p95 of each, and how many misses came back rewritten.
A measurement, not a test: it never fails on a number.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp
from aiohttp import web
from yarl import URL

from bench.pages import SIZES, page_bytes
from proxy.server.app import create_app
from proxy.server.config import Settings
from proxy.server.lifecycle import runner
from tests.cachebusting import _port, _serve


async def storm(readers: int, pages: int, size_name: str) -> dict[str, list[float]]:
    size = next(s for s in SIZES if s.name == size_name)
    up_port, proxy_port = _port(), _port()
    origin = URL.build(scheme="http", host="127.0.0.1", port=up_port)
    body = page_bytes(size, str(origin))

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            body=body + f"<!-- {request.query_string} -->".encode(),
            content_type="text/html",
            headers={"Cache-Control": "max-age=600"},
        )

    site = web.Application()
    site.router.add_get(size.path, page)
    upstream = await _serve(site, up_port)
    public = URL.build(scheme="http", host="127.0.0.1", port=proxy_port)
    settings = Settings(upstream=origin, public_url=public, port=proxy_port)
    proxy = await _serve(runner(create_app(settings), settings), proxy_port)
    times: dict[str, list[float]] = {"miss": [], "rewritten": [], "hit": []}
    url = f"{public}{size.path}"
    try:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def get(target: str) -> tuple[float, bool]:
                started = time.perf_counter()
                async with session.get(target) as response:
                    text = await response.read()
                return time.perf_counter() - started, b"a11y-proxy-toolbar" in text

            await get(f"{url}?stored")  # the page the hits ask for
            running = True

            async def miss(number: int) -> None:
                for n in range(pages):
                    seconds, rewritten = await get(f"{url}?reader={number}-{n}")
                    times["miss"].append(seconds)
                    times["rewritten"].append(float(rewritten))

            async def hits() -> None:
                while running:
                    times["hit"].append((await get(f"{url}?stored"))[0])
                    await asyncio.sleep(0.05)

            hitting = asyncio.create_task(hits())
            await asyncio.gather(*(miss(n) for n in range(readers)))
            running = False
            await hitting
    finally:
        await proxy.cleanup()
        await upstream.cleanup()
    return times


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=32)
    parser.add_argument("--pages", type=int, default=4, help="new queries per reader")
    parser.add_argument("--size", default="large", choices=[s.name for s in SIZES])
    args = parser.parse_args()
    times = asyncio.run(storm(args.readers, args.pages, args.size))
    misses, hits = times["miss"], times["hit"]
    print(
        f"{len(misses)} misses, {args.readers} at a time: p50 {_p(misses, 50):.2f} s, "
        f"p95 {_p(misses, 95):.2f} s, {sum(times['rewritten']):.0f} rewritten; "
        f"{len(hits)} hits meanwhile: p50 {_p(hits, 50) * 1000:.1f} ms, "
        f"p95 {_p(hits, 95) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
