"""The cache of rewritten pages: what a stored page holds and how it is found again.

An :class:`Entry` is one upstream response, rewritten once for every mode (a
:class:`~proxy.rewrite.Page`), with its upstream headers and freshness. Each mode a browser asks
for becomes a :class:`Variant` of it the first time: the filled-in bytes, their validator and,
once made, their compressed forms, so a hit is a dict lookup and a write.

Keys are ``(target, vary)``: the request's path and query, and the values of the request fields
the upstream said it varies on (remembered per target from the last stored response).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

from proxy import codings
from proxy.cache.policy import CacheControl, Freshness, vary_key
from proxy.cache.store import PageStore, StoreStats
from proxy.rewrite import Page

Key = tuple[str, tuple[tuple[str, str], ...]]
# Bookkeeping per entry beyond its bodies: headers, dicts, objects. An estimate, on purpose high.
_OVERHEAD: Final = 2048


@dataclass(slots=True)
class Variant:
    """One mode of one stored page, ready to send."""

    body: bytes
    headers: CIMultiDictProxy[str]
    encoded: dict[str, bytes] = field(default_factory=dict)

    def body_for(self, coding: str | None) -> tuple[bytes, bool]:
        """The body in ``coding`` and whether it had to be compressed now."""
        if coding is None:
            return self.body, False
        data = self.encoded.get(coding)
        if data is not None:
            return data, False
        data = self.encoded[coding] = codings.encode(self.body, coding)
        return data, True

    @property
    def nbytes(self) -> int:
        return len(self.body) + sum(len(data) for data in self.encoded.values()) + _OVERHEAD


@dataclass(slots=True)
class Entry:
    """A rewritten upstream response and the variants made of it so far."""

    page: Page
    status: int
    #: The upstream's end-to-end response fields, as received (validators, Vary, Cache-Control).
    headers: CIMultiDict[str]
    freshness: Freshness
    #: An upstream stylesheet (one form for every mode) rather than an HTML page.
    stylesheet: bool = False
    variants: dict[tuple[str, bool], Variant] = field(default_factory=dict)
    _digest: str = field(default="", init=False, repr=False)

    @property
    def nbytes(self) -> int:
        return self.page.nbytes + _OVERHEAD + sum(v.nbytes for v in self.variants.values())

    def digest(self) -> str:
        """A digest of the rewritten page, made once for all its variants' validators: hashing
        each variant's whole body was most of the cost of a new mode of a big page."""
        if not self._digest:
            hasher = hashlib.blake2b(digest_size=12)
            for part in self.page.parts:
                hasher.update(part)
            self._digest = hasher.hexdigest()
        return self._digest

    @property
    def public(self) -> bool:
        return CacheControl.of(self.headers).public


class PageCache:
    """Entries by key in a byte-bounded store, plus what each target varies on."""

    def __init__(
        self, max_bytes: int, max_entry_bytes: int, clock: Callable[[], float] = time.time
    ) -> None:
        self.clock = clock
        self._store: PageStore[Entry] | None = (
            PageStore(max_bytes, max_entry_bytes=min(max_entry_bytes, max_bytes), clock=clock)
            if max_bytes > 0
            else None
        )
        self._vary: dict[str, tuple[str, ...]] = {}

    def key(self, target: str, request_headers: CIMultiDict[str]) -> Key | None:
        """The key for a request, or None when the last response said ``Vary: *``."""
        vary = vary_key(self._vary.get(target, ()), request_headers)
        return None if vary is None else (target, vary)

    def plain_key(self, target: str) -> Key | None:
        """The key for ``target`` when no request field can change it (its last stored
        response had no Vary), so a lookup needs no headers; else None: use :meth:`key`."""
        return None if target in self._vary else (target, ())

    def get(self, key: Key) -> Entry | None:
        return self._store.get(key) if self._store is not None else None

    def put(self, target: str, request_headers: CIMultiDict[str], entry: Entry) -> bool:
        """Store ``entry`` under the key its own Vary gives; False when it was refused."""
        if self._store is None:
            return False
        names = tuple(entry.headers.getall("Vary", ()))
        vary = vary_key(names, request_headers)
        if vary is None:
            return False
        if names:
            self._vary[target] = names
        else:
            self._vary.pop(target, None)
        return self._store.put((target, vary), entry, entry.freshness.keep_until())

    def grew(self, key: Key, entry: Entry, keep: tuple[str, bool]) -> None:
        """``entry`` gained a variant or a compressed form: account for its new size.

        Past the per-entry limit its other variants go, oldest first, and not the entry: the
        rewritten page is what is dear to make again (a parse), a variant is a join of bytes.
        Dropping the entry made a big page in many modes be parsed again and again.
        """
        if self._store is None:
            return
        for slot in list(entry.variants):
            if entry.nbytes <= self._store.max_entry_bytes:
                break
            if slot != keep:
                del entry.variants[slot]
        self._store.resize(key)

    def invalidate(self, target: str) -> int:
        if self._store is None:
            return 0
        return self._store.invalidate_url(target)

    def stats(self) -> StoreStats | None:
        return self._store.stats() if self._store is not None else None
