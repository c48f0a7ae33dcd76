"""Prometheus metrics of one proxy process, served at ``<prefix>metrics`` (prometheus-client).

Each figure is taken where it happens, once: requests by status and mode in a middleware; the
upstream's answer time, the rewrite time and the cache's decisions through the
:class:`~proxy.server.observe.Observer` that :class:`Metrics` is to the pipeline; the cache
straight from the store's own counters by a collector at scrape time. The registry belongs to
the application, not to the module, so two proxies in one process (tests) count apart. With
``--workers N`` every worker counts for itself; a scrape reaches one of them, so label them by
instance behind a load balancer or run one worker.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, fields
from typing import Final

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.aiohttp import make_aiohttp_handler
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from proxy.cache.pages import PageCache
from proxy.cache.store import StoreStats
from proxy.rewriting.modes import DEFAULT, Mode
from proxy.server import headers
from proxy.server.observe import Tally

_NAMESPACE: Final = "a11y_proxy"
#: Requests for the proxy's own resources (stylesheets, health, metrics) have no reading mode.
NO_MODE: Final = "none"
_DEFAULT_TOKEN: Final = DEFAULT.token
# prometheus_client leaves out the _created series when this is set; so does RequestCollector.
_CREATED_SERIES: Final = os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "").lower() not in (
    "true",
    "1",
    "t",
)
_REWRITE_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
# The store's counters, exposed as Prometheus counters; the rest of its stats are gauges.
_CACHE_COUNTERS: Final = {
    "hits": "Cache lookups that found a stored page",
    "misses": "Cache lookups that found nothing",
    "stores": "Pages stored",
    "evictions": "Pages dropped to make room",
    "expirations": "Pages dropped because they went out of date",
    "invalidations": "Pages dropped because an unsafe request changed them",
    "rejections": "Pages too large to store",
}


class Metrics:
    """The registry and every instrument of one proxy application."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        # Requests are counted by the middleware, the rest where it happens.
        self.requests = RequestCollector()
        registry.register(self.requests)
        self.upstream_seconds = Histogram(
            "upstream_response_seconds",
            "Time until the upstream's response headers arrived",
            namespace=_NAMESPACE,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "upstream_errors",
            "Upstream requests that failed, by kind (timeout, unreachable, broken)",
            ["kind"],
            namespace=_NAMESPACE,
            registry=registry,
        )
        self.rewrite_seconds = Histogram(
            "rewrite_seconds",
            "Time to rewrite one upstream page (html) or stylesheet (css), queueing included",
            ["kind"],
            buckets=_REWRITE_BUCKETS,
            namespace=_NAMESPACE,
            registry=registry,
        )
        self.rewrite_overflow = Counter(
            "rewrite_overflow",
            "Pages (html) and stylesheets (css) relayed unrewritten: the rewrite queue was full",
            ["kind"],
            namespace=_NAMESPACE,
            registry=registry,
        )
        self.reloads = Counter(
            "tuning_reloads",
            "Reloads of the site tuning, by result (ok, error)",
            ["result"],
            namespace=_NAMESPACE,
            registry=registry,
        )
        #: The counts the statistics page shows too.
        self.tally = Tally()
        self.cache = CacheCollector(self.tally)
        registry.register(self.cache)
        self._exposition = make_aiohttp_handler(registry)

    # -- the Observer the pipeline reports to ----------------------------------------------

    def upstream_answered(self, seconds: float) -> None:
        self.upstream_seconds.observe(seconds)

    def upstream_failed(self, kind: str) -> None:
        self.upstream_errors.labels(kind).inc()

    def rewritten(self, kind: str, seconds: float) -> None:
        self.rewrite_seconds.labels(kind).observe(seconds)

    def turned_away(self, kind: str) -> None:
        self.rewrite_overflow.labels(kind).inc()

    def revalidated(self) -> None:
        self.tally.revalidated()

    def reused(self) -> None:
        self.tally.reused()

    def personal(self, reason: str) -> None:
        self.tally.personal(reason)

    def not_stored(self, reason: str) -> None:
        self.tally.not_stored(reason)

    # -- endpoints ---------------------------------------------------------------------------

    def middleware(self, prefix: str) -> Middleware:
        """Counts every request by status and mode, and times it."""
        requests = self.requests
        clock = time.perf_counter

        @web.middleware
        async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
            status = 500
            started = clock()
            requests.in_flight += 1
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            except asyncio.CancelledError:
                status = 499  # the client went away first, as nginx logs it
                raise
            finally:
                requests.in_flight -= 1
                requests.count(status, mode_of(request, prefix), clock() - started)

        return measure

    async def endpoint(self, request: web.Request) -> web.StreamResponse:
        """The scrape: every metric in the exposition format the scraper asks for."""
        response = await self._exposition(request)
        response.headers[hdrs.CACHE_CONTROL] = "no-store"
        return response

    async def stats(self, request: web.Request) -> web.StreamResponse:
        """The cache's statistics as JSON, for an operator reading them by hand."""
        tally = self.tally
        body: dict[str, object] = {
            "revalidations": tally.revalidations,
            "rewrites_reused": tally.rewrites_reused,
            "personal_requests": dict(tally.personal_requests),
            "pages_not_stored": dict(tally.pages_not_stored),
        }
        cache = self.cache.current()
        if cache is not None:
            if cache.shared is not None:
                body.update(store_loads=cache.shared.loads, store_errors=cache.shared.errors)
            stats = cache.stats()
            if stats is not None:
                body.update(asdict(stats))
        return web.json_response(body, headers={hdrs.CACHE_CONTROL: "no-store"})


def mode_of(request: web.Request, prefix: str) -> str:
    """The mode a request is answered in, read as the handler reads it, for the label."""
    target = request.raw_path
    if target.startswith(prefix):
        kind, _, rest = target[len(prefix) :].partition("/")
        if kind != "view":
            return NO_MODE
        return (Mode.from_token(rest.partition("/")[0]) or DEFAULT).token
    cookie = headers.mode_cookie(request.headers.getall(hdrs.COOKIE, ()))
    return _DEFAULT_TOKEN if cookie is None else Mode.parse(cookie).token


class RequestCollector(Collector):
    """Requests answered by status and mode, their duration and those in flight.

    Plain numbers, changed only on the event loop and read at scrape time (also on the loop):
    prometheus_client's own counter, histogram and gauge take a lock per change and check
    labels per call, and doing so four times a request was a sixth of the cost of a hit. The
    exposition is theirs: ``requests_total`` (with ``_created``), the histogram
    ``request_duration_seconds`` with the default buckets, the gauge ``requests_in_flight``.
    """

    def __init__(self, buckets: Sequence[float] = Histogram.DEFAULT_BUCKETS) -> None:
        self.in_flight = 0
        self._counts: dict[tuple[int, str], int] = {}
        self._created: dict[tuple[int, str], float] = {}
        self._bounds = tuple(bound for bound in buckets if bound != math.inf)
        self._buckets = [0] * (len(self._bounds) + 1)  # the last one: +Inf
        self._seconds = 0.0
        self._since = time.time()

    def count(self, status: int, mode: str, seconds: float) -> None:
        """One request answered with ``status`` in ``mode``, in ``seconds``."""
        key = (status, mode)
        count = self._counts.get(key)
        if count is None:
            self._created[key] = time.time()
            count = 0
        self._counts[key] = count + 1
        # The first bucket whose bound is at least the duration, as prometheus_client counts.
        self._buckets[bisect.bisect_left(self._bounds, seconds)] += 1
        self._seconds += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            f"{_NAMESPACE}_requests",
            "Requests answered, by HTTP status and reading mode",
            labels=("status", "mode"),
        )
        for (status, mode), count in self._counts.items():
            created = self._created[status, mode] if _CREATED_SERIES else None
            requests.add_metric((str(status), mode), count, created=created)
        yield requests
        duration = HistogramMetricFamily(
            f"{_NAMESPACE}_request_duration_seconds",
            "Time from the request to the end of the response",
        )
        cumulative = list(itertools.accumulate(self._buckets))
        bounds = [*map(floatToGoString, self._bounds), "+Inf"]
        duration.add_metric((), list(zip(bounds, cumulative, strict=True)), self._seconds)
        if _CREATED_SERIES:
            duration.samples.append(Sample(f"{duration.name}_created", {}, self._since))
        yield duration
        yield GaugeMetricFamily(
            f"{_NAMESPACE}_requests_in_flight", "Requests being answered now", value=self.in_flight
        )


class CacheCollector(Collector):
    """Reads the page cache's counters at scrape time, so nothing is counted twice.

    A reload of the tuning replaces the cache; :meth:`retire` keeps what the old one counted,
    so the counters never go backwards.
    """

    def __init__(self, tally: Tally) -> None:
        self._tally = tally
        self._current: Callable[[], PageCache] | None = None
        self._retired = dict.fromkeys(_CACHE_COUNTERS, 0)

    def watch(self, current: Callable[[], PageCache]) -> None:
        """Read the cache ``current`` returns: the one requests use now."""
        self._current = current

    def current(self) -> PageCache | None:
        return self._current() if self._current is not None else None

    def retire(self, stats: StoreStats | None) -> None:
        if stats is not None:
            for name in _CACHE_COUNTERS:
                self._retired[name] += getattr(stats, name)

    def collect(self) -> Iterator[Metric]:
        cache = self.current()
        if cache is None:
            return
        tally = self._tally
        stats = cache.stats()
        now = {f.name: getattr(stats, f.name) if stats else 0 for f in fields(StoreStats)}
        for name, text in _CACHE_COUNTERS.items():
            yield CounterMetricFamily(
                f"{_NAMESPACE}_cache_{name}", text, value=self._retired[name] + now[name]
            )
        yield CounterMetricFamily(
            f"{_NAMESPACE}_cache_revalidations",
            "Stored pages the upstream confirmed with 304 Not Modified",
            value=tally.revalidations,
        )
        yield CounterMetricFamily(
            f"{_NAMESPACE}_cache_rewrites_reused",
            "Pages and stylesheets not rewritten again: the same bytes came for another URL",
            value=tally.rewrites_reused,
        )
        personal = CounterMetricFamily(
            f"{_NAMESPACE}_cache_personal_requests",
            "GET and HEAD requests with credentials of their own, answered only with pages "
            "the site made public, by what they carried (authorization, cookie)",
            labels=["reason"],
        )
        for reason, value in tally.personal_requests.items():
            personal.add_metric([reason], value)
        yield personal
        not_stored = CounterMetricFamily(
            f"{_NAMESPACE}_cache_pages_not_stored",
            "Rewritten pages the HTTP rules kept out of the cache, by rule",
            labels=["reason"],
        )
        for reason, value in tally.pages_not_stored.items():
            not_stored.add_metric([reason], value)
        yield not_stored
        shared = cache.shared
        if shared is not None:
            yield CounterMetricFamily(
                f"{_NAMESPACE}_cache_store_errors",
                "Operations on the shared store that failed or took too long (the worker "
                "served from its memory or the site meanwhile)",
                value=shared.errors,
            )
            yield CounterMetricFamily(
                f"{_NAMESPACE}_cache_store_loads",
                "Pages this worker took from the shared store: another worker or instance "
                "fetched and rewrote them",
                value=shared.loads,
            )
        yield GaugeMetricFamily(
            f"{_NAMESPACE}_cache_bytes", "Bytes the stored pages take", value=now["bytes_held"]
        )
        yield GaugeMetricFamily(
            f"{_NAMESPACE}_cache_entries", "Pages stored now", value=now["entries"]
        )
