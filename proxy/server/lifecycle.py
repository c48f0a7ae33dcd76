"""A proxy that runs for years: graceful stop on SIGTERM, tuning reloaded on SIGHUP.

SIGTERM (and SIGINT): the listening socket closes at once, so new connections are refused and a
balancer moves on; requests in flight get up to ``--shutdown-grace`` seconds to finish; then the
upstream session and the rewrite pool close. aiohttp's runner does the draining; this module
only sets it up.

SIGHUP: the ``[tuning]`` table of the configuration file is read again and applied without
closing a connection: new stylesheets, new hidden and neutralised elements, new toolbar
settings. Stored pages were made with the old tuning, so the cache starts afresh. A file that
does not validate changes nothing and is logged, naming the bad key. Other options (ports,
upstream, sizes) take effect at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from proxy.rewriting.assets import Stylesheets
from proxy.rewriting.tuning import Tuning
from proxy.server import accesslog, caching, settings_file, siterules
from proxy.server.config import Settings, SettingsError
from proxy.server.deadlines import DeadlineRunner
from proxy.server.handlers import Proxy
from proxy.server.metrics import Metrics

log = logging.getLogger(__name__)


def runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """The runner to serve ``app`` with: its drain time, its deadlines for browser
    connections (a request head, an idle connection) and its access log."""
    return DeadlineRunner(
        app,
        header_timeout=settings.header_timeout,
        keepalive_timeout=settings.keepalive_timeout,
        shutdown_timeout=settings.shutdown_grace,
        access_log_class=accesslog.AccessLogger,
        access_log=accesslog.LOGGER,
    )


def retune(proxy: Proxy, metrics: Metrics, tuning: Tuning, stylesheets: Stylesheets) -> None:
    """Apply ``tuning`` (and the ``stylesheets`` composed with it) to a running proxy."""
    settings = replace(proxy.settings, tuning=tuning)
    rules = siterules.rules(settings)
    proxy.pool.use_rules(rules)
    # Pages in the cache carry the old stylesheet link and the old hidden elements; in a
    # shared store they stay, under the old version's names, for workers not yet reloaded.
    metrics.cache.retire(proxy.cache.stats())
    made_by = (rules, tuning, stylesheets.version)
    cache = caching.page_cache(settings, proxy.cache.shared, made_by, proxy.clock)
    proxy.retune(settings, stylesheets, cache)


async def reload(proxy: Proxy, metrics: Metrics, path: Path) -> bool:
    """Read the tuning in ``path`` again and apply it; False (and a log line) if it is bad."""

    def read() -> tuple[Tuning, Stylesheets]:
        tuning = settings_file.reload_tuning(path)
        return tuning, Stylesheets.load(extra=tuning.css_for)

    try:
        tuning, stylesheets = await asyncio.to_thread(read)
    except SettingsError as exc:
        metrics.reloads.labels("error").inc()
        log.error("tuning not reloaded, the old one stays: %s", exc)
        return False
    retune(proxy, metrics, tuning, stylesheets)
    metrics.reloads.labels("ok").inc()
    log.info("tuning reloaded from %s (other options take effect at the next start)", path)
    return True


def reload_on_hangup(
    proxy_key: web.AppKey[Proxy], metrics: Metrics
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that reloads the tuning from the configuration file on SIGHUP."""

    async def hangup(app: web.Application) -> AsyncIterator[None]:
        path = app[proxy_key].settings.config_file
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[bool]] = set()

        def start() -> None:
            # Handled even without a file: a reload must never stop the proxy.
            if path is None:
                log.warning("SIGHUP: no --config file, so there is no tuning to reload")
                return
            task = loop.create_task(reload(app[proxy_key], metrics, path))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        try:
            loop.add_signal_handler(signal.SIGHUP, start)
        except (RuntimeError, ValueError):  # not the main thread: an embedding program's loop
            log.warning("SIGHUP cannot reload the tuning in this process")
            yield
            return
        try:
            yield
        finally:
            with contextlib.suppress(RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)
            for task in tasks:
                task.cancel()

    return hangup
