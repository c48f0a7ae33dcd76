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
    caller waiting for it and is then forgotten: the next call runs the work again. A result
    no caller stayed for is handed to ``abandoned``, to let go of what it holds.
    """

    def __init__(self, abandoned: Callable[[T], None] | None = None) -> None:
        self._running: dict[K, asyncio.Task[T]] = {}
        #: Callers inside :meth:`run`, per task: the work's result is theirs to use.
        self._waiting: dict[asyncio.Task[T], int] = {}
        self._abandoned = abandoned

    async def run(self, key: K, factory: Callable[[], Awaitable[T]]) -> T:
        """The result of ``factory()``, run once for all concurrent callers with ``key``."""
        task = self._running.get(key)
        # A finished task stays here until its done callback runs; never hand out a stale one.
        if task is None or task.done():
            task = asyncio.ensure_future(factory())
            task.set_name(f"single-flight {key!r}")
            self._running[key] = task
            task.add_done_callback(functools.partial(self._finished, key))
        self._waiting[task] = self._waiting.get(task, 0) + 1
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if self._left(task) and task.done():
                # The last caller went away after the work was done, before taking its result.
                self._abandon(task)
            raise
        except BaseException:
            self._left(task)
            raise
        self._left(task)
        return result

    def _left(self, task: asyncio.Task[T]) -> bool:
        """One caller less for ``task``; whether it was the last."""
        waiting = self._waiting[task] - 1
        if waiting:
            self._waiting[task] = waiting
            return False
        del self._waiting[task]
        return True

    def _abandon(self, task: asyncio.Task[T]) -> None:
        if self._abandoned is not None and not task.cancelled() and task.exception() is None:
            self._abandoned(task.result())

    def _finished(self, key: K, task: asyncio.Task[T]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if task not in self._waiting:
            # Every caller went away while it ran: what it holds (an open response, say) has
            # no one to use it.
            self._abandon(task)
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
