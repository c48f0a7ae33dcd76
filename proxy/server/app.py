"""create_app(settings): the only wiring module; it reads in pipeline order."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from proxy.rewriting import errorpage
from proxy.rewriting.assets import Stylesheets
from proxy.server import caching, health, lifecycle, operators, requestid, siterules
from proxy.server.config import Settings
from proxy.server.errors import ProxyError
from proxy.server.handlers import Proxy
from proxy.server.metrics import Metrics
from proxy.server.pool import RewritePool
from proxy.server.upstream import Upstream

log = logging.getLogger(__name__)

PROXY: web.AppKey[Proxy] = web.AppKey("proxy", Proxy)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(settings: Settings, clock: Callable[[], float] = time.time) -> web.Application:
    """The proxy as an aiohttp application; ``clock`` lets tests move time instead of sleeping."""
    stylesheets = Stylesheets.load(extra=settings.tuning.css_for)
    metrics = Metrics()
    upstream = Upstream(settings, metrics)
    rules = siterules.rules(settings)
    shared = caching.open_store(settings)
    cache = caching.page_cache(
        settings, shared, (rules, settings.tuning, stylesheets.version), clock
    )

    app = web.Application(
        middlewares=[metrics.middleware(settings.prefix), _errors_middleware(settings, stylesheets)]
    )
    requestid.install(app)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        pool = RewritePool(rules, settings.rewrite_processes, settings.rewrite_queue, metrics)
        await upstream.open()
        proxy = Proxy(settings, upstream, cache, pool, stylesheets, metrics, clock)
        if shared is not None:
            shared.start()
        app[PROXY] = proxy
        metrics.cache.watch(lambda: proxy.cache)
        try:
            yield
        finally:
            await proxy.flight.aclose()
            await proxy.making.aclose()
            await upstream.close()
            pool.close()
            if shared is not None:
                await shared.close()

    async def handle(request: web.Request) -> web.StreamResponse:
        return await request.app[PROXY].handle(request)

    app.cleanup_ctx.append(lifetime)
    app.cleanup_ctx.append(lifecycle.reload_on_hangup(PROXY, metrics))
    # Operations, ahead of the catch-all: scraped and probed, never forwarded. The metrics
    # and statistics are for operators; health checks for any load balancer.
    app.router.add_get(f"{settings.prefix}metrics", operators.only(settings, metrics.endpoint))
    app.router.add_get(f"{settings.prefix}stats", operators.only(settings, metrics.stats))
    app.router.add_get(f"{settings.prefix}health/live", health.live)
    app.router.add_get(f"{settings.prefix}health/ready", health.Readiness(upstream).endpoint)
    # [\s\S], not ".": routing sees the decoded path, and a %0A in it must still reach the site.
    app.router.add_route("*", r"/{tail:[\s\S]*}", handle)
    return app


def _errors_middleware(settings: Settings, stylesheets: Stylesheets) -> Middleware:
    """Our errors become short, accessible pages here, and only here."""
    stylesheet = f"{settings.prefix}page.css?v={stylesheets.version}"

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ProxyError as exc:
            log.warning(
                "%s %s -> %d %s: %s",
                request.method,
                request.raw_path[:200],  # raw: a decoded %0A would split the log line
                exc.status,
                type(exc).__name__,
                exc,
            )
            ukrainian = errorpage.prefers_ukrainian(request.headers.get(hdrs.ACCEPT_LANGUAGE))
            return web.Response(
                status=exc.status,
                text=errorpage.render(exc, stylesheet, ukrainian=ukrainian),
                content_type="text/html",
                charset="utf-8",
                headers={**exc.headers, hdrs.CACHE_CONTROL: "no-store"},
            )

    return errors
