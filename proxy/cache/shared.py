"""The store of rewritten pages shared by every worker of a host, or every instance of a
deployment, so a page is fetched and rewritten once for all of them.

Each worker keeps its own pages in memory (:class:`~proxy.cache.store.PageStore`), with the
variants and compressed forms made for its readers; the shared store is the truth behind
them. Three kinds of record, each a plain string or bytes (nothing is unpickled):

- ``page``: one stored response, rewritten, as :func:`proxy.cache.pages.encode` makes it; it
  carries the *stamp* it was stored with and the *generation* of its URL at that time;
- ``stamp`` of a key: the stamp of the page last stored under it;
- ``generation`` of a URL: a token every invalidation replaces.

A page a worker holds is good while its key's stamp and its URL's generation are unchanged.
Whoever changes them then bumps the URL's change counter (:mod:`proxy.cache.changes`), so a
hit reads a counter in memory and asks the store only when it moved: any worker's store,
invalidation or revalidation is seen by every other on its next request. A record that is
gone (evicted, expired, a store restarted empty) counts as changed, so the store's own
eviction can lose pages but never serve an invalidated one. Records are named under a
version of the rewriting (code, stylesheets, tuning, upstream), so pages rewritten another
way are never served.

Concurrent misses for one key across workers are coalesced through a *claim* with a time
limit: one fetches, the others wait for its page and fetch for themselves if none comes, so
a worker that died holding a claim blocks nobody for long. A fetch whose page could not be
stored (``no-store``, an error) leaves a short *no-wait* mark in place of its claim, so the workers
waiting on it, and the next ones, fetch at once instead of in turn.

When the store fails or is slow, :class:`SharedPages` says so once in the log, counts it,
and answers as if it were empty for a moment: workers serve what they hold and ask the
upstream for the rest; no reader sees an error. Invalidations made meanwhile, and pages
whose saving timed out (it may still land), get a new generation when it is back.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Final, Protocol, TypeVar

from proxy.cache.changes import Changes

log = logging.getLogger(__name__)

#: A store operation taking longer than this counts as a failure: a hit must not wait on it.
OPERATION_TIMEOUT: Final = 0.5
#: After a failure the store is left alone this long before it is tried again.
RETRY_AFTER: Final = 2.0
#: How often a worker waiting for another's fetch looks for its page.
POLL_INTERVAL: Final = 0.05
#: How long a fetch that stored nothing lets others fetch without waiting on a claim.
NO_WAIT_TTL: Final = 10.0
#: What a claim holds instead of a token then.
NO_WAIT: Final = "no-wait"
#: URLs remembered for invalidation while the store is down; past it they are only logged
#: (their pages expire with their own freshness).
MAX_MISSED: Final = 10_000

T = TypeVar("T")


class Backend(Protocol):
    """What a shared store does; names come already made by :class:`SharedPages`."""

    #: What its client raises when the store is unreachable or broken.
    errors: tuple[type[Exception], ...]

    async def marks(self, stamp: str, generation: str) -> tuple[str | None, str | None]:
        """The stamp record ``stamp`` and the generation record ``generation``."""
        ...

    async def load(self, page: str) -> bytes | None: ...

    async def vary(self, url: str) -> str | None: ...

    async def save(
        self, *, page: str, blob: bytes, stamp: tuple[str, str], vary: tuple[str, str], ttl: float
    ) -> None:
        """Store ``blob`` as ``page``, then set ``stamp`` and ``vary`` (name, value): a
        reader that sees the new stamp finds the new page."""
        ...

    async def generation(self, url: str, fresh: str) -> str:
        """The URL's generation, set to ``fresh`` first if there is none."""
        ...

    async def invalidate(self, url: str, fresh: str) -> None:
        """Replace the URL's generation with ``fresh``."""
        ...

    async def claim(self, name: str, token: str, ttl: float) -> str:
        """Take the claim ``name`` unless someone holds it; what it holds now (``token``
        if it was taken)."""
        ...

    async def release(self, name: str, token: str, leave: str, ttl: float) -> None:
        """If the claim is still ours: delete it, or with ``leave`` put that in its place
        for ``ttl`` seconds."""
        ...

    async def close(self) -> None: ...


def digest(*parts: object) -> str:
    """A short name for a key or URL; the store never sees a URL in the clear."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def token() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Marks:
    """What a worker compares its copy of a page with: None when the store did not answer."""

    stamp: str | None
    generation: str | None

    def vouch(self, stamp: str, generation: str) -> bool:
        return self.stamp == stamp and self.generation == generation


@dataclass(slots=True)
class Health:
    """How a store has been answering this worker, whatever version it is used under."""

    down: bool = False
    down_until: float = 0.0
    #: URLs to give a new generation when the store is back.
    missed: set[str] = field(default_factory=set)
    #: Failures and timeouts, and pages loaded from the store, for the metrics.
    errors: int = 0
    loads: int = 0


class SharedPages:
    """A :class:`Backend` under one version of the rewriting, guarded against its failures."""

    def __init__(
        self,
        backend: Backend,
        changes: Changes,
        version: str,
        where: str,
        clock: Callable[[], float] = time.monotonic,
        health: Health | None = None,
    ) -> None:
        self.backend = backend
        self.changes = changes
        self.version = version
        #: What to call the store in the log (never with a password).
        self.where = where
        self._clock = clock
        self._failures: tuple[type[BaseException], ...] = (
            OSError,
            TimeoutError,
            *backend.errors,
        )
        self._health = health if health is not None else Health()

    def under(self, version: str) -> SharedPages:
        """The same store under another version: a reload's new cache gets its own, and the
        old one's fetches still in flight keep storing under the names they were made for."""
        return SharedPages(
            self.backend, self.changes, version, self.where, self._clock, self._health
        )

    @property
    def errors(self) -> int:
        return self._health.errors

    @property
    def loads(self) -> int:
        return self._health.loads

    # -- names --------------------------------------------------------------------------

    def _name(self, kind: str, *parts: Hashable) -> str:
        return f"{self.version}:{kind}:{digest(*parts)}"

    # -- operations -------------------------------------------------------------------------

    def start(self) -> None:
        self.changes.start()

    def seen(self, target: str) -> int | None:
        """The change count of ``target`` (see :mod:`proxy.cache.changes`), if known."""
        return self.changes.seen(target)

    async def marks(self, target: str, key: Hashable) -> Marks | None:
        """The current stamp of ``key`` and generation of ``target``; None if the store is
        not answering (the caller then trusts what it holds)."""
        got = await self._ask(self.backend.marks(self._name("s", key), self._name("g", target)))
        return None if got is None else Marks(*got)

    async def vary(self, target: str) -> tuple[str, ...] | None:
        """The request fields the last page stored for ``target`` varies on, if known."""
        value = await self._ask(self.backend.vary(self._name("v", target)))
        if value is None:
            return None
        return tuple(name for name in value.split("\n") if name)

    async def load(self, key: Hashable) -> bytes | None:
        blob = await self._ask(self.backend.load(self._name("p", key)))
        if blob is not None:
            self._health.loads += 1
        return blob

    async def generation(self, target: str) -> str | None:
        """The generation a page stored now for ``target`` belongs to."""
        return await self._ask(self.backend.generation(self._name("g", target), token()))

    async def save(
        self,
        target: str,
        key: Hashable,
        blob: bytes,
        stamp: str,
        vary: tuple[str, ...],
        ttl: float,
        seen: int | None,
    ) -> int | None:
        """Store a page; the change count of ``target`` after it, if its count was still
        ``seen`` before (the saving worker's copy need not be confirmed), else None."""
        if self._is_down():
            return None
        saved = await self._do(
            self.backend.save(
                page=self._name("p", key),
                blob=blob,
                stamp=(self._name("s", key), stamp),
                vary=(self._name("v", target), "\n".join(vary)),
                ttl=ttl,
            )
        )
        if saved:
            return await self._ask(self.changes.changed(target, seen))
        # It may still land after the timeout, with nobody told: a new generation when the
        # store is back makes sure it is never served.
        self._miss(target)
        return None

    async def invalidate(self, target: str) -> None:
        if self._is_down() or not await self._invalidate(target):
            self._miss(target)

    def _miss(self, target: str) -> None:
        missed = self._health.missed
        if len(missed) < MAX_MISSED:
            missed.add(target)
        else:
            log.warning("too many invalidations while the shared store was down: %s", target)

    async def _invalidate(self, target: str) -> bool:
        name = self._name("g", target)
        return await self._do(self.backend.invalidate(name, token())) and await self._do(
            self.changes.changed(target)
        )

    async def claim(self, key: Hashable, ttl: float) -> str | None:
        """A token if this worker now holds the claim to fetch ``key``; "" if another
        does (wait for its page); None if nobody need wait: the last fetch of it stored
        nothing, or the store is not answering."""
        mine = token()
        holder = await self._ask(self.backend.claim(self._name("c", key), mine, ttl))
        if holder is None or holder == NO_WAIT:
            return None
        return mine if holder == mine else ""

    async def release(self, key: Hashable, mine: str, *, stored: bool) -> None:
        """Give up the claim; if nothing was stored, let the next ones fetch at once."""
        leave = "" if stored else NO_WAIT
        await self._do(self.backend.release(self._name("c", key), mine, leave, NO_WAIT_TTL))

    async def close(self) -> None:
        await self.changes.close()
        try:
            await self.backend.close()
        except self._failures as exc:  # a broken store must not stop a stop
            log.debug("closing the shared cache store: %s", exc)

    # -- failures -----------------------------------------------------------------------

    def _is_down(self) -> bool:
        health = self._health
        return health.down and self._clock() < health.down_until

    async def _ask(self, work: Coroutine[object, None, T]) -> T | None:
        """The result of ``work``, or None when the store failed or was too slow."""
        done, result = await self._run(work)
        return result if done else None

    async def _do(self, work: Coroutine[object, None, object]) -> bool:
        """Whether ``work`` (a write) was done."""
        done, _ = await self._run(work)
        return done

    async def _run(self, work: Coroutine[object, None, T]) -> tuple[bool, T | None]:
        if self._is_down():
            work.close()
            return False, None
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT):
                result = await work
        except self._failures as exc:
            self._failed(exc)
            return False, None
        if self._health.down:
            await self._back()
        return True, result

    def _failed(self, exc: BaseException) -> None:
        health = self._health
        health.errors += 1
        health.down_until = self._clock() + RETRY_AFTER
        if not health.down:
            health.down = True
            log.warning(
                "shared cache store %s is not answering (%s); serving from this worker's "
                "memory and the site until it is back",
                self.where,
                type(exc).__name__ if not str(exc) else exc,
            )

    async def _back(self) -> None:
        health = self._health
        health.down = False
        log.info("shared cache store %s is back", self.where)
        missed, health.missed = health.missed, set()
        for target in missed:
            if not await self._invalidate(target):
                self._miss(target)
