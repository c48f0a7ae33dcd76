"""Shared fixtures: a real upstream on loopback that records what it receives, and the real
proxy in front of it, each on its own port."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy
from yarl import URL

from proxy.server.app import create_app
from proxy.server.config import Settings
from proxy.server.lifecycle import runner

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def html_page(
    body: str = "<p>Hello</p>", *, title: str = "Page", lang: str = "en", head: str = ""
) -> str:
    """A small, well-formed page for tests."""
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{title}</title>{head}</head><body>{body}</body></html>"
    )


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    path_qs: str
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass
class Upstream:
    """A real aiohttp site on loopback; routes are added per test, every request is recorded."""

    serve: Callable[[web.Application], Awaitable[TestServer]]
    app: web.Application = field(default_factory=web.Application)
    seen: list[Seen] = field(default_factory=list)
    server: TestServer | None = None

    pages: dict[str, web.Response] = field(default_factory=dict)

    async def start(self) -> URL:
        if self.server is None:
            # Fixed pages are served by one last route, so they can be added after the start.
            self.app.router.add_route("*", "/{tail:.*}", self._fixed)
            self.server = await self.serve(self.app)
        return self.url

    async def _fixed(self, request: web.Request) -> web.Response:
        page = self.pages.get(request.path)
        if page is None:
            return web.Response(status=404, text="not found")
        return web.Response(body=page.body, status=page.status, headers=page.headers)

    @property
    def url(self) -> URL:
        assert self.server is not None
        return URL.build(scheme="http", host="127.0.0.1", port=self.server.port)

    def route(self, path: str, handler: Handler, method: str = "*") -> None:
        self.app.router.add_route(method, path, handler)

    def page(
        self,
        path: str,
        html: str | bytes,
        *,
        content_type: str = "text/html; charset=utf-8",
        headers: Mapping[str, str] | None = None,
        status: int = 200,
    ) -> None:
        """Serve a fixed body at ``path``; may be called before or after the start."""
        body = html.encode() if isinstance(html, str) else html
        fields = {**(headers or {}), "Content-Type": content_type}
        self.pages[path] = web.Response(body=body, status=status, headers=fields)

    def hits(self, path_qs: str) -> int:
        return sum(1 for seen in self.seen if seen.path_qs == path_qs)


@pytest.fixture
async def upstream(aiohttp_server: Any) -> Upstream:
    site = Upstream(aiohttp_server)

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        site.seen.append(Seen(request.method, request.raw_path, request.headers, body))
        return await handler(request)

    site.app.middlewares.append(record)
    return site


ProxyFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def start_proxy(aiohttp_client: Any) -> ProxyFactory:
    """Start the upstream (if needed) and the real proxy in front of it.

    Keyword arguments override Settings; the public URL is the proxy's own loopback address.
    """

    async def start(
        site: Upstream | URL, clock: Callable[[], float] = time.time, **overrides: Any
    ) -> TestClient[web.Request, web.Application]:
        origin = await site.start() if isinstance(site, Upstream) else site
        port = free_port()
        settings = Settings(
            upstream=origin,
            public_url=URL.build(scheme="http", host="127.0.0.1", port=port),
            port=port,
            rewrite_processes=0,
        )
        settings = replace(settings, **overrides)
        client: TestClient[web.Request, web.Application] = await aiohttp_client(
            TestServer(create_app(settings, clock), port=port)
        )
        return client

    return start


@dataclass
class FakeClock:
    """A clock the test moves by hand: freshness without sleeping."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@asynccontextmanager
async def serving(site: Upstream | URL, **overrides: Any) -> AsyncIterator[int]:
    """The proxy in front of ``site`` as ``python -m proxy`` runs it; yields its port.

    Unlike aiohttp's test server, the command line's runner does not cancel a handler whose
    browser left: the handler finds out when it writes.
    """
    port = free_port()
    settings = Settings(
        upstream=await site.start() if isinstance(site, Upstream) else site,
        public_url=URL.build(scheme="http", host="127.0.0.1", port=port),
        port=port,
        rewrite_processes=0,
    )
    settings = replace(settings, **overrides)
    proxy = runner(create_app(settings), settings)
    await proxy.setup()
    try:
        await web.TCPSite(proxy, "127.0.0.1", port).start()
        yield port
    finally:
        await proxy.cleanup()
