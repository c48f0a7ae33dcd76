"""The shared store of one host, with no service to run: SQLite files through diskcache.

diskcache is safe across processes (SQLite in WAL mode: readers never wait for a writer),
bounds its size and evicts the least recently used page past it. The workers' supervisor
makes the directory, in memory (``/dev/shm``) where the system has it, and removes it at
the end; ``--cache-url file:///var/cache/a11y-proxy`` names one that outlives a restart.

Every write runs in a thread, so a worker waiting for SQLite's lock never stalls its event
loop; the marks a hit reads are a few dozen bytes, read in place (in WAL mode a reader does
not wait for a writer), and any wait for a lock is cut short at :data:`LOCK_TIMEOUT`.

Whoever can write the directory can put pages in front of readers, so it must belong to the
proxy's user and be closed to everyone else (:func:`prepare`); and records are read as plain
bytes and text only: one that diskcache would unpickle is refused (:class:`PlainDisk`).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any, Final

import diskcache
from diskcache.core import MODE_PICKLE

#: The marks (stamps, generations, vary names, claims) are small; they get this share of the
#: budget, at least a megabyte. diskcache bounds what it stores, not SQLite's own pages: those
#: come on top (a few percent).
MARKS_SHARE: Final = 64
MIN_MARKS_BYTES: Final = 1 << 20
#: SQLite's busy timeout: past it an operation fails (and the worker carries on without the
#: store for a moment) rather than wait for another process's lock. diskcache's own is 60 s.
LOCK_TIMEOUT: Final = 0.1


class UnsafeDirectory(ValueError):
    """The store's directory could be written by someone other than the proxy's user."""


class ForeignRecord(Exception):
    """A record this proxy would never have written (a pickle): refused, not read."""


def prepare(directory: Path) -> None:
    """Make ``directory`` (mode 0700) or check that it is the proxy user's alone."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = directory.stat()
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise UnsafeDirectory(
            f"{directory} must belong to this user and be closed to others (chmod 700): "
            "whoever can write it can change the pages readers get"
        )


class PlainDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's storage, reading back only what :class:`HostStore` writes: bytes and text."""

    def get(self, key: Any, raw: bool) -> Any:
        if not raw:
            raise ForeignRecord("a pickled key")
        return super().get(key, raw)

    def fetch(self, mode: int, filename: Any, value: Any, read: bool) -> Any:
        if mode == MODE_PICKLE:
            raise ForeignRecord("a pickled value")
        return super().fetch(mode, filename, value, read)


class HostStore:
    """Pages and their marks in two diskcache caches under one directory."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error, diskcache.Timeout, ForeignRecord)

    def __init__(self, directory: Path, max_bytes: int) -> None:
        prepare(directory)
        marks_bytes = max(MIN_MARKS_BYTES, max_bytes // MARKS_SHARE)
        # Each process opens its own: SQLite connections must not cross a fork.
        self._pages: Any = diskcache.Cache(
            str(directory / "pages"),
            timeout=LOCK_TIMEOUT,
            disk=PlainDisk,
            size_limit=max(0, max_bytes - marks_bytes),
            eviction_policy="least-recently-used",
        )
        # Read on every hit, so never written on a read: evicted oldest-stored first.
        self._marks: Any = diskcache.Cache(
            str(directory / "marks"),
            timeout=LOCK_TIMEOUT,
            disk=PlainDisk,
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
        def add() -> object:
            self._marks.add(url, fresh)
            return self._marks.get(url)

        current = await asyncio.to_thread(add)
        return current if isinstance(current, str) else fresh

    async def invalidate(self, url: str, fresh: str) -> None:
        await asyncio.to_thread(self._marks.set, url, fresh)

    async def claim(self, name: str, token: str, ttl: float) -> str:
        def take() -> object:
            with self._marks.transact():
                self._marks.add(name, token, expire=ttl)
                return self._marks.get(name)

        holder = await asyncio.to_thread(take)
        return holder if isinstance(holder, str) else ""

    async def release(self, name: str, token: str, leave: str, ttl: float) -> None:
        def give_up() -> None:
            with self._marks.transact():
                if self._marks.get(name) != token:
                    return
                if leave:
                    self._marks.set(name, leave, expire=ttl)
                else:
                    self._marks.delete(name)

        await asyncio.to_thread(give_up)

    async def close(self) -> None:
        self._pages.close()
        self._marks.close()
