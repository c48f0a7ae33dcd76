"""The shared store of one host, with no service to run: SQLite files through diskcache.

diskcache is safe across processes (SQLite in WAL mode: readers never wait for a writer),
bounds its size and evicts the least recently used page past it. The workers' supervisor
makes the directory, in memory (``/dev/shm``) where the system has it, and removes it at
the end; ``--cache-url file:///var/cache/a11y-proxy`` names one that outlives a restart.

Pages are written from a thread, as a big one takes a while; the marks a hit reads are a
few dozen bytes, read in place.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any, Final

import diskcache

#: The marks (stamps, generations, vary names, claims) are small; they get this share of the
#: budget, at least a few megabytes.
MARKS_SHARE: Final = 64
MIN_MARKS_BYTES: Final = 8 << 20


class HostStore:
    """Pages and their marks in two diskcache caches under one directory."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error, diskcache.Timeout)

    def __init__(self, directory: Path, max_bytes: int) -> None:
        marks_bytes = max(MIN_MARKS_BYTES, max_bytes // MARKS_SHARE)
        # Each process opens its own: SQLite connections must not cross a fork.
        self._pages: Any = diskcache.Cache(
            str(directory / "pages"),
            size_limit=max(MIN_MARKS_BYTES, max_bytes - marks_bytes),
            eviction_policy="least-recently-used",
        )
        # Read on every hit, so never written on a read: evicted oldest-stored first.
        self._marks: Any = diskcache.Cache(
            str(directory / "marks"),
            size_limit=marks_bytes,
            eviction_policy="least-recently-stored",
        )

    async def marks(self, stamp: str, generation: str) -> tuple[str | None, str | None]:
        return self._marks.get(stamp), self._marks.get(generation)

    async def load(self, page: str) -> bytes | None:
        blob = await asyncio.to_thread(self._pages.get, page)
        return blob if isinstance(blob, bytes) else None

    async def vary(self, url: str) -> str | None:
        value = self._marks.get(url)
        return value if isinstance(value, str) else None

    async def save(
        self, *, page: str, blob: bytes, stamp: tuple[str, str], vary: tuple[str, str], ttl: float
    ) -> None:
        def write() -> None:
            self._pages.set(page, blob, expire=ttl)
            self._marks.set(*stamp, expire=ttl)
            self._marks.set(*vary, expire=ttl)

        await asyncio.to_thread(write)

    async def generation(self, url: str, fresh: str) -> str:
        self._marks.add(url, fresh)
        current = self._marks.get(url)
        return current if isinstance(current, str) else fresh

    async def invalidate(self, url: str, fresh: str) -> None:
        self._marks.set(url, fresh)

    async def claim(self, name: str, token: str, ttl: float) -> bool:
        return bool(self._marks.add(name, token, expire=ttl))

    async def release(self, name: str, token: str) -> None:
        with self._marks.transact():
            if self._marks.get(name) == token:
                self._marks.delete(name)

    async def close(self) -> None:
        self._pages.close()
        self._marks.close()
