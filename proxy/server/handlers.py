"""The request pipeline: route → mode → cache → upstream → rewrite → store → respond.

:meth:`Proxy.handle` reads as that pipeline, in order: the raw target decides whether it is
the proxy's own (:mod:`proxy.server.own`) or a page of the site; the mode comes from the mode
link or the cookie; a stored page answers at once; otherwise the upstream is asked (concurrent
misses share one fetch, across workers too), HTML is decoded and rewritten off the event loop,
stored by HTTP rules, and answered by :mod:`proxy.server.respond` in the reader's mode and
the browser's coding. Everything else streams through as the upstream sent it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

import aiohttp
from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.cache.cookies import SessionCookies
from proxy.cache.flight import SingleFlight
from proxy.cache.pages import Entry, Key, Made, PageCache, Ticket, made_from
from proxy.cache.policy import (
    Freshness,
    VaryKey,
    conditional_headers,
    invalidated_urls,
    invalidates,
    merge_304,
    not_stored_because,
    vary_key,
)
from proxy.rewriting import codings
from proxy.rewriting.assets import Stylesheets
from proxy.rewriting.modes import DEFAULT, Mode
from proxy.rewriting.rewrite import Page
from proxy.server import headers, siterules
from proxy.server.config import Settings
from proxy.server.errors import (
    MethodRefused,
    Unsupported,
    UpstreamBroken,
    UpstreamError,
)
from proxy.server.observe import Observer
from proxy.server.own import OwnResources
from proxy.server.pool import QueueFull, RewriteFailed, RewritePool
from proxy.server.respond import Relay, Responder, View
from proxy.server.upstream import Cut, RequestBody, Upstream, read_limited

log = logging.getLogger(__name__)

# HTML gets the toolbar and mode stylesheet; the site's CSS gets font sizes that follow the mode.
_REWRITTEN_TYPES: Final = {"text/html": "html", "text/css": "css"}
# TRACE and TRACK send the request back as the body, cookies and credentials included: a page
# of the site could read what the browser keeps from scripts (cross-site tracing).
_REFUSED_METHODS: Final = frozenset({"TRACE", "TRACK"})
#: What a 405 says the proxy passes on (the site itself may allow fewer).
ALLOW: Final = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


@dataclass(slots=True)
class Fetched:
    """The outcome of one upstream fetch, shared by every request that waited for it.

    ``entry`` is a stored page anyone may be served. ``own`` is what only one request may
    use: a page that must not be shared (it set a cookie, say) or an open response to stream;
    the first request to :meth:`claim` it gets it, the others fetch for themselves.
    ``asked`` holds the fields the upstream request was sent with.
    """

    entry: Entry | None = None
    own: Entry | Relay | None = None
    asked: CIMultiDict[str] | None = None
    _claimed: bool = field(default=False)

    def claim(self) -> Entry | Relay | None:
        if self._claimed:
            return None
        self._claimed = True
        return self.own

    def discard(self) -> None:
        """No request will claim ``own`` any more: close the response it may hold open."""
        own = self.claim()
        if isinstance(own, Relay):
            own.response.release()

    def vary(self, outgoing: CIMultiDict[str]) -> VaryKey | None:
        """The values ``outgoing`` has for the fields the answer varies on; None for ``*``."""
        vary = vary_key(self.response_headers().getall(hdrs.VARY, ()), outgoing)
        if vary is not None and isinstance(self.own, Relay):
            # A relayed body keeps the upstream's coding, chosen from what was offered.
            vary += (("accept-encoding", outgoing.get(hdrs.ACCEPT_ENCODING, "")),)
        return vary

    def serves(self, outgoing: CIMultiDict[str]) -> bool:
        """Whether a request sent upstream as ``outgoing`` may take this answer: it is the
        request that asked, or it matches it on every field the answer varies on."""
        if outgoing is self.asked:
            return True
        if self.asked is None:
            return False
        mine = self.vary(outgoing)
        return mine is not None and mine == self.vary(self.asked)

    def response_headers(self) -> CIMultiDict[str] | CIMultiDictProxy[str]:
        answer = self.entry or self.own
        if isinstance(answer, Relay):
            return answer.response.headers
        return answer.headers if answer is not None else CIMultiDict()

    def status(self) -> int:
        answer = self.entry or self.own
        if isinstance(answer, Relay):
            return answer.response.status
        return answer.status if answer is not None else 0


class Proxy:
    """Answers every request: the site's pages through the proxy, and the proxy's own files."""

    def __init__(
        self,
        settings: Settings,
        upstream: Upstream,
        cache: PageCache,
        pool: RewritePool,
        stylesheets: Stylesheets,
        observer: Observer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.observer = observer
        self.upstream = upstream
        self.pool = pool
        self.clock = clock
        self.links = siterules.links(settings)
        self.sessions = SessionCookies(settings.session_cookies, settings.ignore_cookies)
        self.retune(settings, stylesheets, cache)
        # A browser that leaves while its fetch runs leaves the fetch running for others; an
        # open response that no one stayed for is closed, not left to hold the connection.
        self.flight: SingleFlight[tuple[object, ...], Fetched] = SingleFlight(Fetched.discard)
        #: Rewrites running, by what they are made from: concurrent misses with the same
        #: bytes under different URLs wait for one.
        self.making: SingleFlight[Made, Page | None] = SingleFlight()
        self._revalidating: set[asyncio.Task[None]] = set()

    def retune(self, settings: Settings, stylesheets: Stylesheets, cache: PageCache) -> None:
        """Answer with these from the next request on (a reload of the site tuning)."""
        self.settings = settings
        self.stylesheets = stylesheets
        self.cache = cache
        self.own = OwnResources(settings, self.links, stylesheets)
        self.respond = Responder(settings, self.links, stylesheets)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The pipeline: route → mode → cache → upstream → rewrite → store → respond."""
        if request.method in _REFUSED_METHODS:
            raise MethodRefused(request.method, ALLOW)

        # Route: the proxy's own resources, or a page of the site (a mode link is one).
        prefix = self.settings.prefix
        target = request.raw_path
        token: str | None = None
        if target.startswith(prefix):
            kind, _, rest = target[len(prefix) :].partition("/")
            if kind != "view":
                return self.own.answer(request, target[len(prefix) :])
            token, _, path = rest.partition("/")
            target = "/" + path
        if headers.wants_websocket(request.headers):
            raise Unsupported("WebSocket upgrade refused")

        # Mode: the mode link's, else the cookie's; anything else is the default view.
        if token is not None:
            view = View(target, Mode.from_token(token) or DEFAULT, via_link=True)
        else:
            cookie = headers.mode_cookie(request.headers.getall(hdrs.COOKIE, ()))
            view = View(target, Mode.parse(cookie), via_link=False)

        if request.method not in (hdrs.METH_GET, hdrs.METH_HEAD) or request.body_exists:
            # A form, an upload, a change: straight to the site, never stored, and what it
            # changes is dropped from the cache.
            outgoing = self._upstream_headers(request)
            return await self._deliver(request, await self._unsafe(request, view, outgoing), view)

        # Cache: most requests are fresh hits of a page that varies on no request field,
        # answered before the upstream request is even built (half the cost of a hit).
        built: CIMultiDict[str] | None = None

        def upstream_headers() -> CIMultiDict[str]:
            nonlocal built
            if built is None:
                built = self._cacheable_headers(request)
            return built

        key, entry = await self.cache.find(target, upstream_headers)
        private = self._personal(request)
        if entry is not None and private and not entry.public:
            entry = None  # a request with credentials gets only what the site made public
        now = self.clock()
        if entry is not None and key is not None:
            if not entry.freshness.needs_revalidation(now):
                return self._serve(request, entry, key, view, now)
            if entry.freshness.may_serve_stale_while_revalidate(now):
                self._revalidate_behind(target, upstream_headers(), key, entry)
                return self._serve(request, entry, key, view, now)

        # Upstream, rewrite, store: confirm the stored page, or fetch it, together with
        # every concurrent miss for it (a request with credentials alone).
        outgoing = upstream_headers()
        if entry is not None and key is not None:
            fetched = await self._revalidate(target, outgoing, key, entry)
        elif private:
            fetched = await self._fetch(hdrs.METH_GET, target, outgoing, None, store=True)
        else:
            fetched = await self._coalesced(target, outgoing, key)

        # Respond: the page in the reader's mode, or the site's answer as it came.
        return await self._deliver(request, fetched, view, outgoing)

    async def _coalesced(self, target: str, outgoing: CIMultiDict[str], key: Key | None) -> Fetched:
        """Concurrent misses for a target share one fetch and one rewrite.

        Whether they may share is known only from the answer's Vary: a request that differs
        from the one that asked on a field the answer varies on waits for a fetch of its own,
        shared in turn with the requests that match it. ``Vary: *`` is shared with nobody.
        """

        def fetch() -> Awaitable[Fetched]:
            return self._fetch_once(target, outgoing, key)

        flight_key: tuple[object, ...] = (target, outgoing.get(hdrs.ACCEPT_LANGUAGE, ""), key)
        fetched = await self.flight.run(flight_key, fetch)
        if fetched.serves(outgoing):
            return fetched
        vary = fetched.vary(outgoing)
        if vary is not None:
            fetched = await self.flight.run((*flight_key, vary), fetch)
            if fetched.serves(outgoing):
                return fetched
        return await fetch()

    async def _fetch_once(
        self, target: str, outgoing: CIMultiDict[str], key: Key | None
    ) -> Fetched:
        """A miss's fetch, coalesced with the other workers' through the shared store, if
        there is one: the page one of them stores meanwhile is taken instead."""
        if key is None or self.cache.shared is None:
            return await self._fetch(hdrs.METH_GET, target, outgoing, None, store=True)
        settings = self.settings
        # Long enough for a page to come whole (a slower one is relayed, not stored).
        deadline = settings.connect_timeout + settings.page_timeout + 1.0
        entry, mine = await self.cache.wait_or_claim(target, key, deadline)
        if entry is not None:
            return Fetched(entry=entry, asked=outgoing)
        fetched: Fetched | None = None
        try:
            fetched = await self._fetch(hdrs.METH_GET, target, outgoing, None, store=True)
            return fetched
        finally:
            if mine is not None:
                stored = fetched is not None and fetched.entry is not None
                await self.cache.release(key, mine, stored=stored)

    async def _deliver(
        self,
        request: web.Request,
        fetched: Fetched,
        view: View,
        outgoing: CIMultiDict[str] | None = None,
    ) -> web.StreamResponse:
        """The browser's answer from a fetch: the page stored for everyone, a page for this
        request alone, or the site's response relayed as it came."""
        if fetched.entry is not None:
            key = self.cache.key(view.target, outgoing) if outgoing is not None else None
            return self._serve(request, fetched.entry, key, view, None)
        own = fetched.claim()
        if own is None:  # another waiter took the unshareable result: fetch our own
            assert outgoing is not None
            own = (await self._fetch(hdrs.METH_GET, view.target, outgoing, None, store=False)).own
        if isinstance(own, Entry):
            return self._serve(request, own, None, view, None)
        assert own is not None
        return await self.respond.relay(request, own, view)

    def _serve(
        self, request: web.Request, entry: Entry, key: Key | None, view: View, now: float | None
    ) -> web.Response:
        response, grew = self.respond.page(request, entry, view, now)
        if grew is not None and key is not None:
            self.cache.grew(key, entry, grew)
        return response

    async def _unsafe(
        self, request: web.Request, view: View, outgoing: CIMultiDict[str]
    ) -> Fetched:
        """Send a request that may change something, once; a success drops from the cache
        what it changed (RFC 9111 §4.4)."""
        body = (
            RequestBody(request.content, request.content_length, self.settings.max_body_bytes)
            if request.body_exists
            else None
        )
        fetched = await self._fetch(request.method, view.target, outgoing, body, store=False)
        if invalidates(request.method, fetched.status()):
            await self._invalidate(view.target, fetched.response_headers())
        return fetched

    async def _invalidate(
        self, target: str, upstream_headers: CIMultiDictProxy[str] | CIMultiDict[str]
    ) -> None:
        """A change went through: drop what is stored for the URL and where it points."""
        origin = str(self.settings.upstream)
        for url in invalidated_urls(origin + target, upstream_headers):
            await self.cache.invalidate(url[len(origin) :] or "/")

    # -- talking to the upstream ----------------------------------------------------------

    def _upstream_headers(self, request: web.Request) -> CIMultiDict[str]:
        outgoing = headers.for_upstream(
            request.headers,
            remote=request.remote,
            trusted=self.settings.trusts(request.remote),
            public=self.settings.public_url,
        )
        outgoing[hdrs.ACCEPT_ENCODING] = codings.offer_upstream(
            request.headers.get(hdrs.ACCEPT_ENCODING)
        )
        return outgoing

    def _cacheable_headers(self, request: web.Request) -> CIMultiDict[str]:
        """The upstream request for a GET or HEAD, which may be answered with a page.

        A page is rewritten whole, so a Range is no use to it: a browser loading a page or
        a stylesheet (its Accept names the type) asks the upstream without one, not for a
        206 first and the whole page after it. Anyone else (a media player, a download:
        ``*/*``) keeps the Range; if a page comes back in part all the same, it is asked
        for again, whole (see :meth:`_fetch`).
        """
        outgoing = self._upstream_headers(request)
        if headers.accepts(request.headers, _REWRITTEN_TYPES):
            outgoing.popall(hdrs.RANGE, None)
            outgoing.popall(hdrs.IF_RANGE, None)
        return outgoing

    async def _fetch(
        self,
        method: str,
        target: str,
        outgoing: CIMultiDict[str],
        body: RequestBody | None,
        *,
        store: bool,
    ) -> Fetched:
        """Ask the upstream; rewrite an HTML answer; store it when HTTP allows."""
        ticket = await self.cache.ticket(target) if store else None
        request_time = self.clock()
        response = await self.upstream.send(method, target, outgoing, body)
        if response.status == 206 and body is None and response.content_type in _REWRITTEN_TYPES:
            # Range is relayed for files, but a page is rewritten whole: ask for all of it.
            response.release()
            response = await self.upstream.send(method, target, headers.without_range(outgoing))
        return await self._take(response, request_time, target, outgoing, ticket)

    async def _take(
        self,
        response: aiohttp.ClientResponse,
        request_time: float,
        target: str,
        outgoing: CIMultiDict[str],
        ticket: Ticket | None,
    ) -> Fetched:
        """An upstream answer rewritten (or to relay) and, with a ``ticket``, stored if HTTP
        allows: what every fetch and revalidation does with a full response."""
        try:
            entry = await self._rewrite(response, request_time)
        except BaseException:
            response.release()
            raise
        if isinstance(entry, Relay):
            return Fetched(own=entry, asked=outgoing)
        response.release()
        if ticket is not None and await self._store(target, outgoing, entry, ticket):
            return Fetched(entry=entry, asked=outgoing)
        return Fetched(own=entry, asked=outgoing)

    async def _store(
        self, target: str, outgoing: CIMultiDict[str], entry: Entry, ticket: Ticket
    ) -> bool:
        why = not_stored_because(
            hdrs.METH_GET,
            entry.status,
            outgoing,
            entry.headers,
            session_cookies=bool(self.sessions.names(outgoing.getall(hdrs.COOKIE, ()))),
        )
        if why is not None:
            self.observer.not_stored(why)
            return False
        return await self.cache.put(target, outgoing, entry, ticket)

    def _personal(self, request: web.Request) -> bool:
        """Whether the browser sends credentials of its own, which may make the page its own:
        ``Authorization``, or a cookie that may hold a session (more than the upstream sees,
        if anything: a False here is also False for the request as sent upstream)."""
        if hdrs.AUTHORIZATION in request.headers:
            self.observer.personal("authorization")
            return True
        names = self.sessions.names(request.headers.getall(hdrs.COOKIE, ()))
        if not names:
            return False
        self.observer.personal("cookie")
        # Names only: a value may be a session, and logs are read by more people than readers.
        log.debug("%s is personal: cookies %s", request.raw_path, ", ".join(names))
        return True

    async def _rewrite(
        self, response: aiohttp.ClientResponse, request_time: float
    ) -> Entry | Relay:
        """The rewritten page, or what to relay when the response is not to be rewritten."""
        kind = self._rewritable(response)
        if kind is None:
            return Relay(response)
        settings = self.settings
        raw, cut = await read_limited(response, settings.max_html_bytes, settings.page_timeout)
        if cut is not None:
            # Too large: always relayed. Too slow: the reader gets what came so far now, and
            # the rest as it comes, rather than nothing until the last byte.
            log.info("relaying %s unrewritten: %s", response.url.raw_path, cut.value)
            return Relay(response, raw, transient=cut is Cut.SLOW)
        upstream_headers = CIMultiDict(response.headers)
        try:
            page = await self._page(kind, raw, response)
        except codings.TooLarge:
            log.info(
                "relaying %s unrewritten: larger than --max-html-bytes once decoded",
                response.url.raw_path,
            )
            return Relay(response, raw, complete=True)
        except codings.CodingError as exc:
            raise UpstreamBroken(str(exc)) from exc
        except RewriteFailed as exc:
            # Nothing is lost: the reader gets the page as the site sent it.
            log.warning("relaying %s unrewritten: %s", response.url.raw_path, exc)
            return Relay(response, raw, complete=True)
        except QueueFull:
            # The reader gets the page now, as the site sent it, rather than wait behind
            # every other miss; counted in a11y_proxy_rewrite_overflow_total.
            log.debug("relaying %s unrewritten: the rewrite queue is full", response.url.raw_path)
            return Relay(response, raw, complete=True, transient=True)
        if page is None:
            # Unknown charset, past the rewriter's limits, or cut off inside a script.
            log.info("relaying %s unrewritten: not rewritable", response.url.raw_path)
            return Relay(response, raw, complete=True)
        freshness = Freshness.of(upstream_headers, request_time, self.clock())
        return Entry(page, response.status, upstream_headers, freshness, kind == "css")

    async def _page(self, kind: str, raw: bytes, response: aiohttp.ClientResponse) -> Page | None:
        """``raw`` rewritten, made once for every request that brings the same bytes to
        rewrite the same way, together or one after another: a cache-busting query string
        (``?fbclid=...``) costs a fetch and a hash, not a parse."""
        coding = response.headers.get(hdrs.CONTENT_ENCODING)
        path = response.url.raw_path
        made = (
            made_from(raw, kind, response.charset, coding, path, self.pool.rules)
            if kind == "html"
            else made_from(raw, kind, response.charset, coding)
        )
        page = self.cache.made(made)
        if page is not None:
            self.observer.reused()
            return page
        return await self.making.run(made, lambda: self._make(made, raw))

    async def _make(self, made: Made, raw: bytes) -> Page | None:
        # Decoded in the rewrite pool, up to the same limit: --max-html-bytes bounds the page
        # as sent and as decoded, so a small body that inflates to gigabytes is relayed as is.
        limit = self.settings.max_html_bytes
        if made.kind == "css":
            css = await self.pool.restyle(raw, made.charset, made.coding, limit)
            page: Page | None = Page((css, b"", b""), False, "", True)
        else:
            page = await self.pool.rewrite(raw, made.charset, made.path, made.coding, limit)
        if page is not None:
            self.cache.remember(made, page)
        return page

    def _rewritable(self, response: aiohttp.ClientResponse) -> str | None:
        """ "html" or "css" when the proxy rewrites this response, else None."""
        kind = _REWRITTEN_TYPES.get(response.content_type)
        if kind is None or response.status in (204, 206, 304):
            return None  # a range of a page cannot be rewritten
        cache_control = response.headers.getall(hdrs.CACHE_CONTROL, ())
        if any("no-transform" in value.lower() for value in cache_control):
            return None
        return kind if codings.can_decode(response.headers.get(hdrs.CONTENT_ENCODING)) else None

    async def _revalidate(
        self, target: str, outgoing: CIMultiDict[str], key: Key, entry: Entry
    ) -> Fetched:
        """Ask the upstream whether a stored page is still good (RFC 9111 §4.3)."""
        conditional = headers.without_range(outgoing)  # it revalidates the whole page
        conditional.update(conditional_headers(entry.headers))
        ticket = await self.cache.ticket(target)
        request_time = self.clock()
        try:
            response = await self.upstream.send(hdrs.METH_GET, target, conditional, None)
        except UpstreamError:
            if entry.freshness.may_serve_stale_if_error(self.clock()):
                return Fetched(entry=entry)
            raise
        if response.status == 304:
            response.release()
            self.observer.revalidated()
            entry.headers = merge_304(entry.headers, response.headers)
            entry.freshness = Freshness.of(entry.headers, request_time, self.clock())
            self.respond.refresh_variants(entry)
            if not await self._store(target, outgoing, entry, ticket):
                await self.cache.invalidate(target)
            return Fetched(entry=entry)
        if response.status >= 500 and entry.freshness.may_serve_stale_if_error(self.clock()):
            response.release()
            return Fetched(entry=entry)
        fetched = await self._take(response, request_time, target, outgoing, ticket)
        if fetched.entry is None:
            await self.cache.invalidate(target)  # the stored page is no longer the site's
        return fetched

    def _revalidate_behind(
        self, target: str, outgoing: CIMultiDict[str], key: Key, entry: Entry
    ) -> None:
        """stale-while-revalidate: answer now, refresh the entry in the background, once."""

        async def refresh() -> None:
            try:
                fetched = await self.flight.run(
                    ("revalidate", key), lambda: self._revalidate(target, outgoing, key, entry)
                )
                fetched.discard()  # nobody to stream an unrewritable answer to
            except UpstreamError as exc:
                log.warning("background revalidation of %s failed: %s", target, exc)

        if ("revalidate", key) in self.flight:
            return
        task = asyncio.create_task(refresh())
        self._revalidating.add(task)
        task.add_done_callback(self._revalidating.discard)
