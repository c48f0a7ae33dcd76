"""A byte-bounded LRU store of cache entries, each with its own expiry time (cachetools).

Keys are tuples whose first item names the URL (the rest: method, Vary values, mode ...), so
every variant of one URL can be dropped at once when an unsafe request changes it.

Not thread-safe, by design: like a dict, it is used from the event loop thread only.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Final, Generic, Protocol, TypeVar

from cachetools import TLRUCache

#: Without an explicit limit one entry may take an eighth of the store, so a single huge page
#: cannot flush everything else.
DEFAULT_ENTRY_SHARE: Final = 8

Key = tuple[Hashable, ...]


class Sized(Protocol):
    """A stored value that knows how much memory it holds."""

    @property
    def nbytes(self) -> int: ...


V = TypeVar("V", bound=Sized)


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counters since the store was made, and what it holds now."""

    hits: int
    misses: int
    stores: int
    evictions: int
    expirations: int
    invalidations: int
    rejections: int
    bytes_held: int
    entries: int


@dataclass(frozen=True, slots=True)
class _Slot(Generic[V]):
    value: V
    expires_at: float
    # Read once at insert time: cachetools must see the same size when the entry leaves.
    nbytes: int


class _Entries(TLRUCache[Key, _Slot[V], float]):
    """A TLRUCache that tells its owner which keys it dropped, and why."""

    def __init__(
        self,
        max_bytes: int,
        clock: Callable[[], float],
        on_evict: Callable[[Key], None],
        on_expire: Callable[[Key], None],
    ) -> None:
        super().__init__(
            max_bytes,
            lambda _key, slot, _now: slot.expires_at,
            clock,
            lambda slot: slot.nbytes,
        )
        self._on_evict = on_evict
        self._on_expire = on_expire

    def expire(self, time: float | None = None) -> list[tuple[Key, _Slot[V]]]:
        expired = super().expire(time)
        for key, _slot in expired:
            self._on_expire(key)
        return expired

    def popitem(self) -> tuple[Key, _Slot[V]]:
        # cachetools calls this only to make room, so each call is an LRU eviction.
        key, slot = super().popitem()
        self._on_evict(key)
        return key, slot


class PageStore(Generic[V]):
    """Entries bounded by their total ``nbytes``, dropped least recently used first.

    An entry leaves at its ``expires_at`` (by ``clock``) and stops holding memory then; the
    store purges expired entries whenever it misses or stores, never on the hit path.
    """

    def __init__(
        self,
        max_bytes: int,
        *,
        max_entry_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {max_bytes!r}")
        if max_entry_bytes is None:
            max_entry_bytes = max(1, max_bytes // DEFAULT_ENTRY_SHARE)
        if not 1 <= max_entry_bytes <= max_bytes:
            raise ValueError(
                f"max_entry_bytes must be between 1 and max_bytes ({max_bytes}), "
                f"got {max_entry_bytes!r}"
            )
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self._clock = clock
        self._entries: _Entries[V] = _Entries(max_bytes, clock, self._evicted, self._expired)
        self._keys_by_url: dict[Hashable, set[Key]] = {}
        self._hits = self._misses = self._stores = self._evictions = 0
        self._expirations = self._invalidations = self._rejections = 0

    def get(self, key: Key) -> V | None:
        """The live value for ``key``, now most recently used; None on a miss."""
        try:
            slot = self._entries[key]
        except KeyError:
            self._misses += 1
            self._entries.expire()
            return None
        self._hits += 1
        return slot.value

    def put(self, key: Key, value: V, expires_at: float) -> bool:
        """Store ``value`` until ``expires_at``; False if it is too big or already expired.

        A refused value also removes what was stored under ``key`` before: it is outdated.
        """
        stored = self._insert(key, value, expires_at)
        if stored:
            self._stores += 1
        else:
            self._rejections += 1
        return stored

    def resize(self, key: Key) -> bool:
        """Re-read the size of the value under ``key`` after it grew (say, a compressed form).

        False if there is no live entry, or it no longer fits ``max_entry_bytes`` and was dropped.
        """
        try:
            slot = self._entries[key]
        except KeyError:
            return False
        if self._insert(key, slot.value, slot.expires_at):
            return True
        self._rejections += 1
        return False

    def pop(self, key: Key) -> V | None:
        """Remove and return the live value for ``key``, if any."""
        slot = self._entries.pop(key, None)
        if slot is None:
            return None
        self._forget(key)
        return slot.value

    def invalidate_url(self, url_key: Hashable) -> int:
        """Drop every entry whose key starts with ``url_key``; return how many were live."""
        self._entries.expire()
        removed = 0
        for key in self._keys_by_url.pop(url_key, set()):
            # A key can expire between expire() and here if the clock moves on.
            with contextlib.suppress(KeyError):
                del self._entries[key]
                removed += 1
        self._invalidations += removed
        return removed

    def stats(self) -> StoreStats:
        """The counters, and the bytes and entries held once expired entries are purged."""
        self._entries.expire()
        return StoreStats(
            hits=self._hits,
            misses=self._misses,
            stores=self._stores,
            evictions=self._evictions,
            expirations=self._expirations,
            invalidations=self._invalidations,
            rejections=self._rejections,
            bytes_held=int(self._entries.currsize),
            entries=len(self._entries),
        )

    def __contains__(self, key: Key) -> bool:
        """Whether a live entry exists, without touching recency or counters."""
        return key in self._entries

    def _insert(self, key: Key, value: V, expires_at: float) -> bool:
        nbytes = value.nbytes
        if nbytes > self.max_entry_bytes or expires_at <= self._clock():
            self.pop(key)
            return False
        self._entries[key] = _Slot(value, expires_at, nbytes)
        # A real clock may pass expires_at during the insert, and cachetools then drops it.
        if key not in self._entries:
            return False
        # Filed after the insert, which may have evicted this key's previous value.
        self._keys_by_url.setdefault(key[0], set()).add(key)
        return True

    def _forget(self, key: Key) -> None:
        keys = self._keys_by_url.get(key[0])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._keys_by_url[key[0]]

    def _evicted(self, key: Key) -> None:
        self._evictions += 1
        self._forget(key)

    def _expired(self, key: Key) -> None:
        self._expirations += 1
        self._forget(key)
