"""The two plain aiohttp servers of the benchmark, each run as a process of its own.

``upstream``: the site behind nginx and the proxy. Its pages are cacheable for ten minutes and
it ignores the query string, so a distinct query makes a miss that costs the site the same.
``/_bench/fetches`` says how many times it was asked for a page, for the shared-cache section.

``ceiling``: the bare handler, the most aiohttp can do. It answers every path with bytes it
holds in memory, read once from files: the proxy's own output for that page, so both send the
same bytes.

Run as ``python -m bench.servers upstream --port 8001`` or
``python -m bench.servers ceiling --port 8002 --pages DIR``.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from aiohttp import hdrs, web

from bench.pages import BLOB_PATH, SIZES, blob, page_bytes

HTML: Final = "text/html; charset=utf-8"
CACHEABLE: Final = "public, max-age=600"
FETCHES_PATH: Final = "/_bench/fetches"


def upstream_app(origin: str) -> web.Application:
    """The benchmark site; its links name ``origin``."""
    bodies = {size.path: page_bytes(size, origin) for size in SIZES}
    data = blob()
    fetches = 0

    async def html(request: web.Request) -> web.Response:
        nonlocal fetches
        fetches += 1
        body = bodies.get(request.path)
        if body is None:
            raise web.HTTPNotFound()
        if request.query_string:
            # A new query is a new page: the proxy would reuse its rewrite of the same bytes,
            # and the misses are here to measure a rewrite.
            body += f"<!-- {request.query_string} -->".encode()
        return web.Response(
            body=body, headers={hdrs.CONTENT_TYPE: HTML, hdrs.CACHE_CONTROL: CACHEABLE}
        )

    async def binary(_request: web.Request) -> web.Response:
        return web.Response(
            body=data,
            headers={hdrs.CONTENT_TYPE: "application/octet-stream", hdrs.CACHE_CONTROL: "no-store"},
        )

    async def count(_request: web.Request) -> web.Response:
        return web.Response(text=str(fetches))

    app = web.Application()
    app.router.add_get(FETCHES_PATH, count)
    app.router.add_get(BLOB_PATH, binary)
    app.router.add_get("/{tail:.*}", html)
    return app


def ceiling_app(pages: Path) -> web.Application:
    """The bare handler: ``pages/<name>.html`` is sent for every path ending in that name."""
    bodies = {path.name: path.read_bytes() for path in pages.glob("*.html")}

    async def handler(request: web.Request) -> web.Response:
        body = bodies.get(request.path.rpartition("/")[2])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, headers={hdrs.CONTENT_TYPE: HTML})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    return app


def _listen(port: int) -> socket.socket:
    # SO_REUSEPORT lets the benchmark start several ceiling processes on one port, as the
    # proxy's workers share one; the kernel spreads connections over them.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    return sock


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    parser.add_argument("role", choices=("upstream", "ceiling"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pages", type=Path, help="folder of <name>.html files (ceiling)")
    args = parser.parse_args(argv)
    if args.role == "upstream":
        app = upstream_app(f"http://127.0.0.1:{args.port}")
    else:
        if args.pages is None:
            parser.error("ceiling needs --pages")
        app = ceiling_app(args.pages)
    web.run_app(app, sock=_listen(args.port), access_log=None, print=None)


if __name__ == "__main__":
    main()
