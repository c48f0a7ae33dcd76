"""Which URLs changed in the shared store since a worker last looked: a hit's check that
costs a memory read, not a store round trip.

A table of counters, one slot per URL (by hash: URLs sharing a slot only cost each other a
check). Whoever stores or invalidates a page of a URL bumps its slot *after* the store has
the change. A worker serving its copy compares the slot with the value it saw when it last
confirmed the copy against the store; only when it moved does it ask the store again.

- :class:`HostChanges`: the workers of one host share the table in memory (a file beside
  the host's store, mapped by each). Increments take a file lock, so none is lost; reads
  take none.
- :class:`NotifiedChanges`: instances on Redis each keep a table of their own, bumped by
  the store's notifications (pub/sub). While a worker is not subscribed it cannot know, so
  every hit is checked against the store, and on subscribing again every copy is checked
  once: what changed meanwhile is never served. A subscription lost without a word (a
  frozen store, a dropped connection) is noticed by its unanswered PING within
  :data:`~proxy.cache.redisstore.KEEPALIVE` × 3 seconds; until then copies are served as
  confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import mmap
import os
import secrets
import struct
from array import array
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Final, Protocol

log = logging.getLogger(__name__)

SLOTS: Final = 1 << 16
_COUNTER: Final = struct.Struct("<Q")


def slot(target: str) -> int:
    return int.from_bytes(hashlib.blake2b(target.encode(), digest_size=4).digest()) % SLOTS


class Changes(Protocol):
    def seen(self, target: str) -> int | None:
        """The change count of ``target``'s slot; None when it cannot be known now."""
        ...

    async def changed(self, target: str, seen: int | None = None) -> int | None:
        """``target``'s pages changed in the store: tell every worker. If its count was
        still ``seen`` (the caller's copy is that change), the count after it, else None."""
        ...

    def start(self) -> None:
        """Begin following other workers' changes (from a running event loop)."""
        ...

    async def close(self) -> None: ...


class HostChanges:
    """The table in a file every worker of the host maps."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        size = SLOTS * _COUNTER.size
        with self._locked():
            if os.fstat(self._fd).st_size < size:
                os.ftruncate(self._fd, size)
        self._table = mmap.mmap(self._fd, size)

    def start(self) -> None:
        pass  # the table is shared memory: nothing to follow

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def seen(self, target: str) -> int | None:
        value: int = _COUNTER.unpack_from(self._table, slot(target) * _COUNTER.size)[0]
        return value

    async def changed(self, target: str, seen: int | None = None) -> int | None:
        offset = slot(target) * _COUNTER.size
        with self._locked():
            (value,) = _COUNTER.unpack_from(self._table, offset)
            _COUNTER.pack_into(self._table, offset, value + 1)
        return value + 1 if value == seen else None

    async def close(self) -> None:
        self._table.close()
        os.close(self._fd)


class Notifier(Protocol):
    """A store that tells every subscriber which slots changed."""

    errors: tuple[type[Exception], ...]

    async def publish(self, message: str) -> None: ...

    def listen(self, subscribed: Callable[[], None]) -> AsyncIterator[str]:
        """The messages published, from the moment it calls ``subscribed``; it ends or
        raises when the subscription does."""
        ...


class NotifiedChanges:
    """This worker's own table, kept by a store's notifications."""

    def __init__(self, notifier: Notifier, retry_after: float) -> None:
        self._counts = array("Q", bytes(SLOTS * 8))
        #: Bumped on every new subscription: every copy is checked once after a gap.
        self._epoch = 0
        self._subscribed = False
        self._notifier = notifier
        self._retry_after = retry_after
        self._task: asyncio.Task[None] | None = None
        #: Signs this worker's own messages, which it has counted already.
        self._me = secrets.token_hex(4)

    def start(self) -> None:
        """Follow the notifications, from a running event loop, until :meth:`close`."""
        self._task = asyncio.get_running_loop().create_task(self._follow())

    def seen(self, target: str) -> int | None:
        if not self._subscribed:
            return None
        return (self._epoch << 48) + self._counts[slot(target)]

    async def changed(self, target: str, seen: int | None = None) -> int | None:
        before = self.seen(target)
        number = slot(target)
        self._counts[number] += 1
        after = self.seen(target)
        await self._notifier.publish(f"{number} {self._me}")
        return after if before is not None and before == seen else None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        while True:
            try:
                async for message in self._notifier.listen(self._on_subscribed):
                    number, _, sender = message.partition(" ")
                    if number.isdigit() and int(number) < SLOTS and sender != self._me:
                        self._counts[int(number)] += 1
            except Exception as exc:  # whatever ended it, follow again
                log.debug("change notifications stopped: %s", exc)
            finally:
                # Not following means not knowing: every hit asks the store meanwhile.
                self._subscribed = False
            await asyncio.sleep(self._retry_after)

    def _on_subscribed(self) -> None:
        self._epoch += 1
        self._subscribed = True
