"""Where rewrites run: off the event loop, so a big page never stalls the pages being served.

Parsing is pure Python under the GIL; a thread would still take turns with the event loop, so
by default pages are rewritten in a small process pool. ``processes=0`` uses one thread instead
(cheap to start: tests and tiny installations).
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from proxy.restyle import restyle
from proxy.rewrite import Page, Rules, rewrite


class RewritePool:
    def __init__(self, rules: Rules, processes: int) -> None:
        self._rules = rules
        self._executor: Executor
        if processes > 0:
            # spawn, not fork: forking a process that runs an event loop and sockets is unsafe.
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(processes, mp_context=context)
        else:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="rewrite")

    async def rewrite(self, body: bytes, header_charset: str | None) -> Page | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, rewrite, body, header_charset, self._rules
        )

    async def restyle(self, body: bytes, header_charset: str | None) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, restyle, body, header_charset)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
