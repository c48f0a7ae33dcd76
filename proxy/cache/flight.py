"""Request coalescing: concurrent misses for one key share one run of the work.

When many browsers ask for the same uncached page at once, the proxy fetches and rewrites it
once and hands the result to all of them.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class SingleFlight(Generic[K, T]):
    """At most one run of the work per key at a time; every caller gets its outcome.

    The work runs in a task of its own, shielded from its callers: a caller that is cancelled
    (a browser that went away) leaves it running for the others, and when every caller has
    gone it still finishes, so the page still reaches the cache. A failure reaches every
    caller waiting for it and is then forgotten: the next call runs the work again.
    """

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Task[T]] = {}

    async def run(self, key: K, factory: Callable[[], Awaitable[T]]) -> T:
        """The result of ``factory()``, run once for all concurrent callers with ``key``."""
        task = self._running.get(key)
        # A finished task stays here until its done callback runs; never hand out a stale one.
        if task is None or task.done():
            task = asyncio.ensure_future(factory())
            task.set_name(f"single-flight {key!r}")
            self._running[key] = task
            task.add_done_callback(functools.partial(self._finished, key))
        return await asyncio.shield(task)

    def _finished(self, key: K, task: asyncio.Task[T]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        # asyncio.shield stops watching the work once its caller is cancelled, so a failure
        # that every caller walked away from would be logged as "Task exception was never
        # retrieved". Fetch it here; callers still waiting get it all the same.
        if not task.cancelled():
            task.exception()

    def __contains__(self, key: K) -> bool:
        """Whether work for ``key`` is running."""
        return key in self._running

    def __len__(self) -> int:
        return len(self._running)

    async def aclose(self) -> None:
        """Cancel the work still running (at shutdown) and wait until it has stopped."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
