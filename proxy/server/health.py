"""Health checks for supervisors and load balancers, under the reserved prefix.

``health/live`` says the process answers; it never asks the upstream, because restarting the
proxy cannot mend the site. ``health/ready`` says traffic may come here: the upstream answered
a ``HEAD /`` below 500 within a short timeout. The outcome is kept for a few seconds and
concurrent probes share one check, so however often a balancer asks, the site sees about one
request per interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import hdrs, web
from multidict import CIMultiDict

from proxy.server.errors import UpstreamError
from proxy.server.upstream import Upstream

_NO_STORE: Final = {hdrs.CACHE_CONTROL: "no-store"}
_PROBE_HEADERS: Final = {hdrs.USER_AGENT: "a11y-proxy readiness check"}


@dataclass(frozen=True, slots=True)
class Probe:
    ready: bool
    #: What the upstream did, in a few words that reveal nothing of its address.
    detail: str
    checked_at: float


async def live(request: web.Request) -> web.Response:
    return web.json_response({"status": "live"}, headers=_NO_STORE)


class Readiness:
    """Whether the upstream answers, checked at most once per ``ttl`` seconds."""

    def __init__(
        self,
        upstream: Upstream,
        *,
        timeout: float = 2.0,
        ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.upstream = upstream
        self.timeout = timeout
        self.ttl = ttl
        self.clock = clock
        self._last: Probe | None = None
        self._running: asyncio.Task[Probe] | None = None

    async def probe(self) -> Probe:
        last = self._last
        if last is not None and self.clock() - last.checked_at < self.ttl:
            return last
        if self._running is None:
            self._running = asyncio.create_task(self._check())
            self._running.add_done_callback(self._finished)
        # Shielded: a prober that hangs up does not cancel the check the others wait for.
        return await asyncio.shield(self._running)

    def _finished(self, task: asyncio.Task[Probe]) -> None:
        self._running = None
        if not task.cancelled() and task.exception() is None:
            self._last = task.result()

    async def _check(self) -> Probe:
        try:
            async with asyncio.timeout(self.timeout):
                response = await self.upstream.send(
                    hdrs.METH_HEAD, "/", CIMultiDict(_PROBE_HEADERS)
                )
                response.release()
        except TimeoutError:
            return Probe(False, "no answer in time", self.clock())
        except UpstreamError as exc:
            return Probe(False, type(exc).__name__, self.clock())
        return Probe(response.status < 500, f"HTTP {response.status}", self.clock())

    async def endpoint(self, request: web.Request) -> web.Response:
        probe = await self.probe()
        return web.json_response(
            {"status": "ready" if probe.ready else "not ready", "upstream": probe.detail},
            status=200 if probe.ready else 503,
            headers=_NO_STORE,
        )
