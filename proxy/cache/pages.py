"""The cache of rewritten pages: what a stored page holds and how it is found again.

An :class:`Entry` is one upstream response, rewritten once for every mode (a
:class:`~proxy.rewriting.rewrite.Page`), with its upstream headers and freshness. Each mode a
browser asks for becomes a :class:`Variant` of it the first time: the filled-in bytes, their
validator and, once made, their compressed forms, so a hit is a dict lookup and a write.

Keys are ``(target, vary)``: the request's path and query, and the values of the request fields
the upstream said it varies on (remembered per target from the last stored response).

Rewritten pages are also remembered by what they were made from (:func:`made_from`): the
same bytes under another URL (``?utm_source=...``, ``?fbclid=...``) or after a revalidation
are not parsed again. Only what a page's own URL decides (its toolbar, its canonical link) is
made per URL, as for any entry, in its variants.

With a shared store (:mod:`proxy.cache.shared`) the entries here are this worker's copies:
each is checked against the store when its URL's change counter has moved, pages another
worker stored are loaded from it, and what this worker stores, invalidates or revalidates
goes to it too. An entry crosses
to the store as bytes (:func:`encode`): its page and what HTTP needs, never its variants,
which each worker makes for its own readers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Final, NamedTuple

from cachetools import LRUCache
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.cache.policy import CacheControl, Freshness, vary_key
from proxy.cache.shared import POLL_INTERVAL, SharedPages, token
from proxy.cache.store import PageStore, StoreStats
from proxy.rewriting import codings
from proxy.rewriting.rewrite import Page

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


#: Slots counting invalidations: URLs sharing one only cost each other a store skipped.
INVALIDATION_SLOTS: Final = 4096


@dataclass(frozen=True, slots=True)
class Ticket:
    """The state of a URL before a fetch (see :meth:`PageCache.ticket`)."""

    invalidations: int
    #: The shared store's change count and generation of the URL; None without a store or
    #: when it did not answer (the page is then kept by this worker only).
    seen: int | None
    generation: str | None


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
    #: The copy of the shared store this is (see :mod:`proxy.cache.shared`): the stamp it
    #: was stored with and its URL's generation then; empty without a store.
    stamp: str = ""
    generation: str = ""
    #: The URL's change count when this copy was last confirmed against the store.
    seen: int | None = field(default=None, compare=False)
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


def encode(entry: Entry) -> bytes:
    """An entry as the shared store keeps it: a JSON head (its length first), then the
    page's parts. Plain data only, so reading a store someone else can write runs no code."""
    page = entry.page
    head = json.dumps(
        {
            "status": entry.status,
            "headers": list(entry.headers.items()),
            "freshness": asdict(entry.freshness),
            "stylesheet": entry.stylesheet,
            "page": [page.has_body, page.lang, page.has_canonical, page.viewport, page.has_base],
            "sizes": [len(part) for part in page.parts],
            "stamp": entry.stamp,
            "generation": entry.generation,
        },
        separators=(",", ":"),
    ).encode()
    return b"".join((len(head).to_bytes(4, "big"), head, *page.parts))


def decode(blob: bytes) -> Entry | None:
    """The entry :func:`encode` made, or None for anything else."""
    try:
        size = int.from_bytes(blob[:4], "big")
        meta = json.loads(blob[4 : 4 + size])
        sizes = meta["sizes"]
        start = 4 + size
        if len(sizes) != 3 or start + sum(sizes) != len(blob):
            return None
        parts = []
        for length in sizes:
            parts.append(blob[start : start + length])
            start += length
        has_body, lang, has_canonical, viewport, has_base = meta["page"]
        page = Page(
            (parts[0], parts[1], parts[2]), has_body, lang, has_canonical, viewport, has_base
        )
        return Entry(
            page,
            int(meta["status"]),
            CIMultiDict((str(name), str(value)) for name, value in meta["headers"]),
            Freshness(**meta["freshness"]),
            bool(meta["stylesheet"]),
            stamp=str(meta["stamp"]),
            generation=str(meta["generation"]),
        )
    except (ValueError, TypeError, KeyError):
        return None


class PageCache:
    """Entries by key in a byte-bounded store, plus what each target varies on; with a
    shared store behind them, this worker's copies of its pages."""

    def __init__(
        self,
        max_bytes: int,
        max_entry_bytes: int,
        clock: Callable[[], float] = time.time,
        shared: SharedPages | None = None,
    ) -> None:
        self.clock = clock
        self.shared = shared
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
        #: Invalidations by URL (in slots, by hash): see :meth:`ticket`.
        self._invalidations = array("Q", bytes(8 * INVALIDATION_SLOTS))

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

    async def find(
        self, target: str, request_headers: Callable[[], CIMultiDict[str]]
    ) -> tuple[Key | None, Entry | None]:
        """The key for a request for ``target`` and the entry stored under it, if any.

        ``request_headers`` makes the upstream request's fields, needed only when the page
        varies on some: a hit of a page that does not is answered without them.
        """
        key = self.plain_key(target)
        if key is None:
            key = self.key(target, request_headers())
        entry = self.get(key) if key is not None else None
        shared = self.shared
        if shared is None or key is None:
            return key, entry
        if entry is not None:
            seen = shared.seen(target)
            if seen is not None and seen == entry.seen:
                return key, entry  # nothing of this URL changed since it was confirmed
            marks = await shared.marks(target, key)
            if marks is None:
                if seen is not None and entry.seen is not None:
                    # The store is not answering, but its URL changed since: fetch it.
                    self._forget(key)
                    return key, None
                return key, entry  # the store is not answering: serve what we hold
            if marks.vouch(entry.stamp, entry.generation):
                entry.seen = seen
                return key, entry
            self._forget(key)  # another worker stored a newer one, or invalidated it
        names = await shared.vary(target)
        if names is not None and names != self._vary.get(target, ()):
            self._learn_vary(target, names)
            key = self.key(target, request_headers())
            if key is None:
                return None, None
        return key, await self._load(target, key)

    async def ticket(self, target: str) -> Ticket:
        """Taken before ``target`` is asked of the upstream, and handed to :meth:`put`."""
        invalidations = self._invalidations[hash(target) % len(self._invalidations)]
        if self.shared is None:
            return Ticket(invalidations, None, None)
        # The change count first: a change after it makes the next hit confirm the copy.
        seen = self.shared.seen(target)
        return Ticket(invalidations, seen, await self.shared.generation(target))

    async def put(
        self, target: str, request_headers: CIMultiDict[str], entry: Entry, ticket: Ticket
    ) -> bool:
        """Store ``entry`` under the key its own Vary gives, here and in the shared store;
        False when it was refused, or when its URL was invalidated while it was fetched
        (what came back may predate the change)."""
        names = tuple(entry.headers.getall("Vary", ()))
        vary = vary_key(names, request_headers)
        if vary is None:
            return False
        if self._invalidations[hash(target) % len(self._invalidations)] != ticket.invalidations:
            return False
        key = (target, vary)
        shared = self.shared
        if shared is not None:
            # The generation from before the fetch: if another worker invalidated the URL
            # meanwhile, this copy is already out of date and is never vouched for.
            entry.seen = ticket.seen
            entry.stamp, entry.generation = token(), ticket.generation or ""
        self._learn_vary(target, names)
        stored = self._store is not None and self._store.put(
            key, entry, entry.freshness.keep_until()
        )
        if shared is not None and entry.generation:
            ttl = entry.freshness.keep_until() - self.clock()
            if ttl > 0:
                blob = encode(entry)
                seen = entry.seen
                entry.seen = await shared.save(target, key, blob, entry.stamp, names, ttl, seen)
                stored = True
        return stored

    async def wait_or_claim(
        self, target: str, key: Key, deadline: float
    ) -> tuple[Entry | None, str | None]:
        """Before a worker fetches ``key``: the page another worker stored meanwhile, or the
        claim to fetch it (a token to :meth:`release`), or neither (fetch all the same).

        Another worker's claim is waited on for at most ``deadline`` seconds, which is also
        how long a claim lasts: one left by a worker that died blocks no one for longer.
        """
        shared = self.shared
        if shared is None:
            return None, None
        before = await shared.marks(target, key)
        mine = await shared.claim(key, deadline)
        give_up = time.monotonic() + deadline
        while mine == "" and time.monotonic() < give_up:
            await asyncio.sleep(POLL_INTERVAL)
            now = await shared.marks(target, key)
            if now is None:
                return None, None
            if now.stamp is not None and (before is None or now.stamp != before.stamp):
                entry = await self._load(target, key)
                if entry is not None:
                    return entry, None
            mine = await shared.claim(key, deadline)
        return None, mine or None

    async def release(self, key: Key, mine: str, *, stored: bool) -> None:
        if self.shared is not None:
            await self.shared.release(key, mine, stored=stored)

    async def _load(self, target: str, key: Key) -> Entry | None:
        """The shared store's page for ``key``, kept here too, if it is still its latest."""
        shared = self.shared
        assert shared is not None
        seen = shared.seen(target)  # before the load: a change after it is noticed next time
        blob = await shared.load(key)
        entry = decode(blob) if blob is not None else None
        if entry is None:
            return None
        marks = await shared.marks(target, key)
        if marks is None or not marks.vouch(entry.stamp, entry.generation):
            return None
        entry.seen = seen
        if self._store is not None:
            self._store.put(key, entry, entry.freshness.keep_until())
        return entry

    def _learn_vary(self, target: str, names: tuple[str, ...]) -> None:
        if names:
            self._vary[target] = names
        else:
            self._vary.pop(target, None)

    def _forget(self, key: Key) -> None:
        if self._store is not None:
            self._store.pop(key)

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

    async def invalidate(self, target: str) -> None:
        """Drop every stored variant of ``target``, in every worker."""
        self._invalidations[hash(target) % len(self._invalidations)] += 1
        if self._store is not None:
            self._store.invalidate_url(target)
        if self.shared is not None:
            await self.shared.invalidate(target)

    def stats(self) -> StoreStats | None:
        return self._store.stats() if self._store is not None else None
