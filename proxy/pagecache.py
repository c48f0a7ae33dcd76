"""The cache of rewritten pages: what a stored page holds and how it is found again.

An :class:`Entry` is one upstream response, rewritten once for every mode (a
:class:`~proxy.rewrite.Page`), with its upstream headers and freshness. Each mode a browser asks
for becomes a :class:`Variant` of it the first time: the filled-in bytes, their validator and,
once made, their compressed forms, so a hit is a dict lookup and a write.

Keys are ``(target, vary)``: the request's path and query, and the values of the request fields
the upstream said it varies on (remembered per target from the last stored response).

Rewritten pages are also remembered by what they were made from (:func:`made_from`): the
same bytes under another URL (``?utm_source=...``, ``?fbclid=...``) or after a revalidation
are not parsed again. Only what a page's own URL decides (its toolbar, its canonical link) is
made per URL, as for any entry, in its variants.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from cachetools import LRUCache
from multidict import CIMultiDict, CIMultiDictProxy

from proxy import codings
from proxy.cache.policy import CacheControl, Freshness, vary_key
from proxy.cache.store import PageStore, StoreStats
from proxy.rewrite import Page

Key = tuple[str, tuple[tuple[str, str], ...]]


class Made(NamedTuple):
    """What a rewrite read, so equal keys make equal pages (see :func:`made_from`)."""

    digest: bytes
    #: "html" or "css".
    kind: str
    charset: str | None
    coding: str | None
    #: A page's path: its relative files are made path-absolute from it (a link such as
    #: ``?v=2`` needs the file name, not just the folder). Empty for a stylesheet.
    path: str
    #: The rewrite rules (links, hidden widgets); None for a stylesheet, which has none.
    rules: object


# Bookkeeping per entry beyond its bodies: headers, dicts, objects. An estimate, on purpose high.
_OVERHEAD: Final = 2048
#: Pages remembered by what they were made from take this share of --cache-bytes; entries
#: the rest.
MADE_SHARE: Final = 4


def made_from(
    body: bytes,
    kind: str,
    charset: str | None,
    coding: str | None,
    path: str = "",
    rules: object = None,
) -> Made:
    """The key of a rewrite of ``body``. The body is hashed as sent (compressed, if so): the
    same bytes in the same coding decode alike, and the hash costs less."""
    digest = hashlib.blake2b(body, digest_size=16).digest()
    return Made(digest, kind, charset, coding, path, rules)


def _page_bytes(page: Page) -> int:
    return page.nbytes + _OVERHEAD


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
        # Pages kept by what they were made from take their share out of the same budget.
        made_bytes = max_bytes // MADE_SHARE
        store_bytes = max_bytes - made_bytes
        self._store: PageStore[Entry] | None = (
            PageStore(store_bytes, max_entry_bytes=min(max_entry_bytes, store_bytes), clock=clock)
            if store_bytes > 0
            else None
        )
        self._vary: dict[str, tuple[str, ...]] = {}
        self._made: LRUCache[Made, Page] | None = (
            LRUCache(made_bytes, getsizeof=_page_bytes) if made_bytes > 0 else None
        )

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

    def made(self, key: Made) -> Page | None:
        """The page last made from ``key``'s inputs, if it is still remembered."""
        return self._made.get(key) if self._made is not None else None

    def remember(self, key: Made, page: Page) -> None:
        """Keep ``page`` for the next body that matches ``key``, least recently used first
        out; a page larger than the whole share is not kept."""
        if self._made is not None and _page_bytes(page) <= self._made.maxsize:
            self._made[key] = page

    def invalidate(self, target: str) -> int:
        if self._store is None:
            return 0
        return self._store.invalidate_url(target)

    def stats(self) -> StoreStats | None:
        return self._store.stats() if self._store is not None else None
