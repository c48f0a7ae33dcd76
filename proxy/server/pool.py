"""Where rewrites run: off the event loop, so a big page never stalls the pages being served.

Parsing is pure Python under the GIL; a thread would still take turns with the event loop, so
by default pages are rewritten in a small process pool. ``processes=0`` uses one thread instead
(cheap to start: tests and tiny installations).

A rewrite that kills its worker (a page that exhausts memory, a crash in a C parser) must not
take the proxy down with it: the pool is replaced, and the caller is told the page could not be
rewritten, so it can relay the page as the site sent it. A worker also leaves on its own when
the serving process is gone, even one killed with SIGKILL, so none is left behind.

The queue is bounded: ``queue`` pages may wait for a free worker, and one more is turned away
at once (:class:`QueueFull`), for the caller to relay as the site sent it. Without a bound,
a burst of misses (a crawler walking the archive, a new page linked from everywhere) made
every later miss wait for all before it, many seconds; stored pages never come here, so they
are served the while.

A page is decoded (gzip, br, ...) where it is rewritten, and not before: decoding a large page
takes time the event loop cannot spare; the compressed bytes, the smaller form, are what crosses
to a worker process; the decoded page never exists in the serving process; and the pool's size
bounds how many pages are being decoded at once. Decoding stops at a size limit, so a small
body that inflates to gigabytes (a bomb) costs about the limit and no more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Final, TypeVar

from proxy.rewriting import codings
from proxy.rewriting.restyle import restyle
from proxy.rewriting.rewrite import Page, Rules, rewrite
from proxy.server.observe import Observer, Tally

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How often a worker checks that the process that started it is still there.
PARENT_POLL: Final = 1.0


def _leave_with_parent(parent: int) -> None:
    """Worker initializer: exit when the serving process is gone (the worker is re-parented)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _decoded(
    work: Callable[..., T], body: bytes, coding: str | None, max_bytes: int | None, *args: object
) -> T:
    """``work`` on ``body`` once its content coding is undone; runs in the pool."""
    return work(codings.decode(body, coding, max_bytes), *args)


class RewriteFailed(Exception):
    """The rewrite did not finish; the page should be relayed unrewritten."""


class QueueFull(Exception):
    """Every worker is busy and the queue is full: the page was not rewritten, nor queued."""


class RewritePool:
    def __init__(
        self, rules: Rules, processes: int, queue: int = 8, observer: Observer | None = None
    ) -> None:
        self._rules = rules
        self._observer: Observer = observer if observer is not None else Tally()
        self._processes = processes
        #: Rewrites at once: one per worker (a thread is one), and ``queue`` more waiting.
        self._limit = max(1, processes) + queue
        self._in_flight = 0
        self._executor = self._new_executor()

    def _new_executor(self) -> Executor:
        if self._processes > 0:
            # spawn, not fork: forking a process that runs an event loop and sockets is unsafe.
            context = multiprocessing.get_context("spawn")
            return ProcessPoolExecutor(
                self._processes,
                mp_context=context,
                initializer=_leave_with_parent,
                initargs=(os.getpid(),),
            )
        return ThreadPoolExecutor(1, thread_name_prefix="rewrite")

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        if self._in_flight >= self._limit:
            raise QueueFull(f"{self._in_flight} rewrites running or waiting")
        self._in_flight += 1
        try:
            return await self._in_executor(function, *args)
        finally:
            self._in_flight -= 1

    async def _in_executor(self, function: Callable[..., T], *args: object) -> T:
        executor = self._executor
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, function, *args)
        except BrokenProcessPool as exc:
            if self._executor is executor:  # the first caller to notice replaces the pool
                log.error("a rewrite worker died; starting a new one")
                executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._new_executor()
            raise RewriteFailed("the rewrite worker died") from exc
        except RecursionError as exc:  # pathological nesting in a thread rewrite
            raise RewriteFailed("the page is nested too deeply") from exc
        except (codings.CodingError, codings.TooLarge):
            raise  # about the body as sent, for the caller to answer
        except Exception as exc:
            # A bug of ours or of a parser met on one page: the reader still gets the page, as
            # the site sent it, and the operator a traceback.
            log.exception("rewriting failed")
            raise RewriteFailed(f"the rewriter failed: {exc!r}"[:200]) from exc

    @property
    def rules(self) -> Rules:
        """The rules every rewrite follows now."""
        return self._rules

    def use_rules(self, rules: Rules) -> None:
        """Rules for every rewrite from now on (a reload of the site tuning); rules travel
        with each call, so worker processes need no restart."""
        self._rules = rules

    async def rewrite(
        self,
        body: bytes,
        header_charset: str | None,
        path: str = "/",
        coding: str | None = None,
        max_bytes: int | None = None,
    ) -> Page | None:
        """The page at ``path`` rewritten; ``body`` is in ``coding`` (a Content-Encoding
        value) and may decode to ``max_bytes`` at most, else
        :class:`~proxy.rewriting.codings.TooLarge`."""
        with self._timed("html"):
            return await self._run(
                _decoded, rewrite, body, coding, max_bytes, header_charset, self._rules, path
            )

    async def restyle(
        self,
        body: bytes,
        header_charset: str | None,
        coding: str | None = None,
        max_bytes: int | None = None,
    ) -> bytes:
        """The stylesheet restyled; ``coding`` and ``max_bytes`` as for :meth:`rewrite`."""
        with self._timed("css"):
            return await self._run(_decoded, restyle, body, coding, max_bytes, header_charset)

    @contextlib.contextmanager
    def _timed(self, kind: str) -> Iterator[None]:
        """Time a rewrite, however it ends; one turned away is counted, not timed."""
        started = time.perf_counter()
        try:
            yield
        except QueueFull:
            self._observer.turned_away(kind)
            raise
        except BaseException:
            self._observer.rewritten(kind, time.perf_counter() - started)
            raise
        self._observer.rewritten(kind, time.perf_counter() - started)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
