"""The per-request pipeline: route, mode, cache, upstream, rewrite, respond.

One request, in order: the raw target decides whether it is the proxy's own (under the reserved
prefix: stylesheets, mode links) or the site's; the mode comes from the mode link or the cookie;
a stored page answers at once; otherwise the upstream is asked (concurrent misses share one
fetch), HTML is decoded and rewritten off the event loop, stored by HTTP rules and sent in the
browser's coding. Everything else streams through as the upstream sent it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

import aiohttp
from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.cache.cookies import SessionCookies
from proxy.cache.flight import SingleFlight
from proxy.cache.pages import Entry, Key, Made, PageCache, Ticket, Variant, made_from
from proxy.cache.policy import (
    Freshness,
    VaryKey,
    conditional_headers,
    if_none_match_matches,
    invalidated_urls,
    invalidates,
    merge_304,
    not_stored_because,
    vary_key,
)
from proxy.rewriting import codings, errorpage, placement, sharepage, toolbar, viewport
from proxy.rewriting.assets import Stylesheets
from proxy.rewriting.modes import COOKIE_NAME, DEFAULT, Mode
from proxy.rewriting.rewrite import Page
from proxy.server import headers, siterules
from proxy.server.config import Settings
from proxy.server.errors import (
    ClientError,
    MethodRefused,
    Unsupported,
    UpstreamBroken,
    UpstreamError,
)
from proxy.server.observe import Observer
from proxy.server.pool import QueueFull, RewriteFailed, RewritePool
from proxy.server.upstream import Cut, RequestBody, Upstream, read_limited

log = logging.getLogger(__name__)

#: Upstream response fields that rewriting makes false: they describe the site's bytes, not
#: the page the reader gets, so a rewritten page never carries them (the proxy writes its own
#: where one is needed). Every other end-to-end field stays as the site sent it: Cache-Control,
#: Expires, Content-Language, Content-Disposition, Content-Location, Link, the site's own.
#: A relayed response keeps them all: its bytes are the site's.
MADE_FALSE_BY_REWRITING: Final = frozenset(
    {
        "content-length",  # the site's length; the proxy frames its own
        "content-encoding",  # the site's coding; the page goes in the browser's
        "content-type",  # the page goes as UTF-8, and says so
        "content-md5",  # digests of the site's bytes
        "digest",
        "content-digest",
        "repr-digest",
        "etag",  # the proxy's own validator, per mode, stands in
        "last-modified",  # a new tuning changes the page while the site's date stays
        "accept-ranges",  # a page is never served in part: Range gets it whole
        "content-range",  # a part of the site's bytes: a 206 is relayed, never rewritten
        "vary",  # the site's, and Accept-Encoding and Cookie besides
    }
)
_CHUNK: Final = 64 * 1024
# HTML gets the toolbar and mode stylesheet; the site's CSS gets font sizes that follow the mode.
_REWRITTEN_TYPES: Final = {"text/html": "html", "text/css": "css"}
_ONE_YEAR: Final = 365 * 24 * 3600
# TRACE and TRACK send the request back as the body, cookies and credentials included: a page
# of the site could read what the browser keeps from scripts (cross-site tracing).
_REFUSED_METHODS: Final = frozenset({"TRACE", "TRACK"})
#: What a 405 says the proxy passes on (the site itself may allow fewer).
ALLOW: Final = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"


@lru_cache(maxsize=256)
def _negotiate(accept_encoding: str) -> str | None:
    # Browsers send a handful of distinct values; parsing each once keeps hits cheap.
    return codings.negotiate(accept_encoding)


@dataclass(slots=True)
class Relay:
    """An upstream response to pass on as it is, after ``head``, the part already read.

    ``transient``: relayed unrewritten only because of the moment (the rewrite queue was
    full, the page came slowly), so no browser or cache in between may keep it in place of
    the rewritten page.
    """

    response: aiohttp.ClientResponse
    head: bytes = b""
    complete: bool = False
    transient: bool = False


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
        vary = vary_key(self._response_headers().getall(hdrs.VARY, ()), outgoing)
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

    def _response_headers(self) -> CIMultiDict[str] | CIMultiDictProxy[str]:
        answer = self.entry or self.own
        if isinstance(answer, Relay):
            return answer.response.headers
        return answer.headers if answer is not None else CIMultiDict()


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
        self.settings = settings
        self.observer = observer
        self.upstream = upstream
        self.cache = cache
        self.pool = pool
        self.stylesheets = stylesheets
        self.clock = clock
        self.links = siterules.links(settings)
        self.sessions = SessionCookies(settings.session_cookies, settings.ignore_cookies)
        # A browser that leaves while its fetch runs leaves the fetch running for others; an
        # open response that no one stayed for is closed, not left to hold the connection.
        self.flight: SingleFlight[tuple[object, ...], Fetched] = SingleFlight(Fetched.discard)
        #: Rewrites running, by what they are made from: concurrent misses with the same
        #: bytes under different URLs wait for one.
        self.making: SingleFlight[Made, Page | None] = SingleFlight()
        self._revalidating: set[asyncio.Task[None]] = set()

    # -- routing -------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method in _REFUSED_METHODS:
            raise MethodRefused(request.method, ALLOW)
        target = request.raw_path
        prefix = self.settings.prefix
        if target.startswith(prefix):
            return await self._own(request, target[len(prefix) :])
        cookie = headers.mode_cookie(request.headers.getall(hdrs.COOKIE, ()))
        return await self._site(request, target, Mode.parse(cookie), via_link=False)

    async def _own(self, request: web.Request, rest: str) -> web.StreamResponse:
        kind, _, tail = rest.partition("/")
        if kind == "view":
            token, _, target = tail.partition("/")
            mode = Mode.from_token(token) or DEFAULT
            return await self._site(request, "/" + target, mode, via_link=True)
        if kind in ("css", "keep") and request.method in (hdrs.METH_GET, hdrs.METH_HEAD):
            return self._stylesheet(tail.partition("?")[0], remember=kind == "keep")
        if kind == "share" and request.method in (hdrs.METH_GET, hdrs.METH_HEAD):
            token, _, target = tail.partition("/")
            return self._share(request, Mode.from_token(token) or DEFAULT, "/" + target)
        if rest.partition("?")[0] == "page.css":
            return self._css(self.stylesheets.page, immutable=True)
        if rest.partition("?")[0] == "share.js":
            return self._file(self.stylesheets.share_script, "application/javascript")
        raise ClientError(404, "no such proxy resource")

    def _stylesheet(self, name: str, *, remember: bool) -> web.Response:
        mode = Mode.from_token(name.removesuffix(".css"))
        if mode is None or not name.endswith(".css"):
            raise ClientError(404, "no such stylesheet")
        response = self._css(self.stylesheets.by_token[mode.token], immutable=not remember)
        if remember:
            # Loaded by pages reached through a mode link: opening one remembers its mode,
            # while the page itself stays free of Set-Cookie and so cacheable by URL.
            self._set_mode_cookie(response, mode)
        return response

    def _css(self, body: bytes, *, immutable: bool) -> web.Response:
        return self._file(body, "text/css", immutable=immutable)

    def _file(self, body: bytes, content_type: str, *, immutable: bool = True) -> web.Response:
        response = web.Response(body=body, content_type=content_type, charset="utf-8")
        response.headers[hdrs.CACHE_CONTROL] = (
            f"public, max-age={_ONE_YEAR}, immutable" if immutable else "no-store"
        )
        return response

    def _share(self, request: web.Request, mode: Mode, target: str) -> web.Response:
        """The page that shows the mode link of ``target`` for copying."""
        prefix = self.settings.prefix
        view = toolbar.mode_link(prefix, mode, target)
        version = self.stylesheets.version
        html = sharepage.render(
            self.links.public_origin + view,
            view,
            (f"{prefix}page.css?v={version}", self.stylesheets.href(prefix, mode)),
            f"{prefix}share.js?v={version}",
            ukrainian=errorpage.prefers_ukrainian(request.headers.get(hdrs.ACCEPT_LANGUAGE)),
        )
        return web.Response(
            text=html,
            content_type="text/html",
            charset="utf-8",
            headers={hdrs.CACHE_CONTROL: "no-store"},
        )

    def _set_mode_cookie(self, response: web.StreamResponse, mode: Mode) -> None:
        if mode.is_default:
            response.del_cookie(
                COOKIE_NAME, path="/", secure=self.settings.secure, httponly=True, samesite="Lax"
            )
            return
        response.set_cookie(
            COOKIE_NAME,
            mode.token,
            path="/",
            max_age=_ONE_YEAR,
            secure=self.settings.secure,
            httponly=True,
            samesite="Lax",
        )

    # -- the site's pages -----------------------------------------------------------------

    async def _site(
        self, request: web.Request, target: str, mode: Mode, *, via_link: bool
    ) -> web.StreamResponse:
        if headers.wants_websocket(request.headers):
            raise Unsupported("WebSocket upgrade refused")
        if request.method in (hdrs.METH_GET, hdrs.METH_HEAD) and not request.body_exists:
            return await self._cached(request, target, mode, via_link)
        return await self._unsafe(request, target, self._upstream_headers(request), mode, via_link)

    async def _cached(
        self, request: web.Request, target: str, mode: Mode, via_link: bool
    ) -> web.StreamResponse:
        # Most requests are fresh hits of a page that varies on no request field: they are
        # answered before the upstream request is built, which was half the cost of a hit.
        outgoing: CIMultiDict[str] | None = None

        def upstream_headers() -> CIMultiDict[str]:
            nonlocal outgoing
            if outgoing is None:
                outgoing = self._cacheable_headers(request)
            return outgoing

        key, entry = await self.cache.find(target, upstream_headers)
        private = self._personal(request)
        if entry is not None and private and not entry.public:
            entry = None  # a request with credentials gets only what the site made public
        now = self.clock()
        if entry is not None and key is not None and not entry.freshness.needs_revalidation(now):
            return self._serve(request, entry, key, target, mode, via_link, now)
        outgoing = upstream_headers()
        if entry is not None and key is not None:
            if entry.freshness.may_serve_stale_while_revalidate(now):
                self._revalidate_behind(target, outgoing, key, entry)
                return self._serve(request, entry, key, target, mode, via_link, now)
            fetched = await self._revalidate(target, outgoing, key, entry)
        elif private:
            # Not coalesced with anyone; stored only if the answer says it may be shared.
            fetched = await self._fetch(hdrs.METH_GET, target, outgoing, None, store=True)
        else:
            fetched = await self._coalesced(target, outgoing, key)
        return await self._deliver(request, fetched, target, outgoing, mode, via_link)

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
        target: str,
        outgoing: CIMultiDict[str],
        mode: Mode,
        via_link: bool,
    ) -> web.StreamResponse:
        if fetched.entry is not None:
            key = self.cache.key(target, outgoing)
            return self._serve(request, fetched.entry, key, target, mode, via_link, None)
        own = fetched.claim()
        if own is None:  # another waiter took the unshareable result: fetch our own
            own = (await self._fetch(hdrs.METH_GET, target, outgoing, None, store=False)).own
        if isinstance(own, Entry):
            return self._serve(request, own, None, target, mode, via_link, None)
        assert own is not None
        return await self._stream(request, own, via_link=via_link, mode=mode)

    async def _unsafe(
        self,
        request: web.Request,
        target: str,
        outgoing: CIMultiDict[str],
        mode: Mode,
        via_link: bool,
    ) -> web.StreamResponse:
        body = (
            RequestBody(request.content, request.content_length, self.settings.max_body_bytes)
            if request.body_exists
            else None
        )
        fetched = await self._fetch(request.method, target, outgoing, body, store=False)
        own = fetched.claim()
        assert own is not None
        upstream_headers = own.headers if isinstance(own, Entry) else own.response.headers
        status = own.status if isinstance(own, Entry) else own.response.status
        if invalidates(request.method, status):
            await self._invalidate(target, upstream_headers)
        if isinstance(own, Entry):
            return self._serve(request, own, None, target, mode, via_link, None)
        return await self._stream(request, own, via_link=via_link, mode=mode)

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
            self._refresh_variants(entry)
            if not await self._store(target, outgoing, entry, ticket):
                await self.cache.invalidate(target)
            return Fetched(entry=entry)
        if response.status >= 500 and entry.freshness.may_serve_stale_if_error(self.clock()):
            response.release()
            return Fetched(entry=entry)
        try:
            fresh = await self._rewrite(response, request_time)
        except BaseException:
            response.release()
            raise
        if isinstance(fresh, Relay):
            await self.cache.invalidate(target)
            return Fetched(own=fresh)
        response.release()
        if await self._store(target, outgoing, fresh, ticket):
            return Fetched(entry=fresh)
        await self.cache.invalidate(target)
        return Fetched(own=fresh)

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

    # -- answering the browser ------------------------------------------------------------

    def _serve(
        self,
        request: web.Request,
        entry: Entry,
        key: Key | None,
        target: str,
        mode: Mode,
        via_link: bool,
        now: float | None,
    ) -> web.Response:
        """A rewritten page in one mode: made once per mode, then served from memory."""
        # A stylesheet is the same in every mode: it has one variant.
        slot = ("", False) if entry.stylesheet else (mode.token, via_link)
        variant = entry.variants.get(slot)
        grew = False
        if variant is None:
            variant = entry.variants[slot] = self._variant(entry, target, mode, via_link)
            grew = True
        inm = request.headers.get(hdrs.IF_NONE_MATCH)
        if inm is not None and if_none_match_matches(inm, variant.headers[hdrs.ETAG]):
            response = web.Response(status=304, headers=variant.headers)
            del response.headers[hdrs.CONTENT_TYPE]
            return response
        coding = _negotiate(request.headers.get(hdrs.ACCEPT_ENCODING, ""))
        body, compressed = variant.body_for(coding)
        if (grew or compressed) and key is not None:
            self.cache.grew(key, entry, slot)
        response = web.Response(status=entry.status, body=body, headers=variant.headers)
        if coding is not None:
            response.headers[hdrs.CONTENT_ENCODING] = coding
        if now is not None:
            response.headers[hdrs.AGE] = str(int(entry.freshness.age(now)))
        return response

    def _variant(self, entry: Entry, target: str, mode: Mode, via_link: bool) -> Variant:
        """Fill the page's slots for one mode (a stylesheet has none: one form for all)."""
        page = entry.page
        if entry.stylesheet:
            body = page.parts[0]
            added = ""
        else:
            prefix = self.settings.prefix
            origin = self.links.public_origin
            canonical = None
            if via_link and not page.has_canonical:
                canonical = origin + target
            # A page's <base> would send path-absolute links of ours to its own origin.
            ours = origin if page.has_base else ""
            stylesheet = ours + self.stylesheets.href(prefix, mode, remember=via_link)
            layout = viewport.for_mode(page.viewport, reading=not mode.is_default)
            head = toolbar.head_links(stylesheet, canonical, layout)
            tuning = self.settings.tuning
            lang = tuning.language(page.lang)
            bar = toolbar.toolbar(mode, target, lang, ours + prefix)
            here = toolbar.mode_link(prefix, mode, target) if via_link else target
            back = toolbar.return_link(lang, ours + here if ours else "")
            body = placement.render(page, head, bar, back, tuning.toolbar_position)
            added = head + bar + back + tuning.toolbar_position
        etag = _etag(entry.digest(), added, mode)
        return Variant(body, self._variant_headers(entry, etag, via_link))

    def _variant_headers(self, entry: Entry, etag: str, via_link: bool) -> CIMultiDictProxy[str]:
        out = self._browser_headers(entry.headers)
        for name in MADE_FALSE_BY_REWRITING:
            out.popall(name, None)
        kind = "text/css" if entry.stylesheet else "text/html"
        out[hdrs.CONTENT_TYPE] = f"{kind}; charset=utf-8"
        out[hdrs.ETAG] = etag
        vary = [v for v in entry.headers.getall(hdrs.VARY, ()) if v.strip()]
        # A plain URL's page depends on the mode cookie; a mode link's page does not.
        by_cookie = not (via_link or entry.stylesheet)
        vary.append("Accept-Encoding, Cookie" if by_cookie else "Accept-Encoding")
        out[hdrs.VARY] = ", ".join(vary)
        return CIMultiDictProxy(out)

    def _refresh_variants(self, entry: Entry) -> None:
        """After a 304: new upstream headers for every variant; no body is made again, and
        each keeps its validator, as its bytes are the same."""
        for (_, via_link), variant in entry.variants.items():
            variant.headers = self._variant_headers(entry, variant.headers[hdrs.ETAG], via_link)

    def _browser_headers(
        self, upstream: CIMultiDict[str] | CIMultiDictProxy[str]
    ) -> CIMultiDict[str]:
        """Upstream response fields fit for the browser: hop-by-hop gone, origins mapped."""
        out = headers.end_to_end(upstream)
        for name in (hdrs.LOCATION, hdrs.CONTENT_LOCATION):
            if name in out:
                out[name] = self.links.url(out[name])
        if "Refresh" in out:
            out["Refresh"] = self.links.refresh(out["Refresh"])
        if hdrs.LINK in out:
            values = [headers.rewrite_link_header(v, self.links) for v in out.popall(hdrs.LINK)]
            out.extend((hdrs.LINK, v) for v in values)
        if hdrs.SET_COOKIE in out:
            cookies = [headers.rewrite_set_cookie(v) for v in out.popall(hdrs.SET_COOKIE)]
            out.extend((hdrs.SET_COOKIE, v) for v in cookies)
        return out

    async def _stream(
        self, request: web.Request, relay: Relay, *, via_link: bool, mode: Mode
    ) -> web.StreamResponse:
        """Relay a response the proxy does not rewrite, in bounded memory."""
        upstream = relay.response
        try:
            out = self._browser_headers(upstream.headers)
            if via_link and hdrs.LOCATION in out:
                out[hdrs.LOCATION] = self._keep_view(out[hdrs.LOCATION], mode)
            if relay.transient:
                out[hdrs.CACHE_CONTROL] = "no-store"
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            response.headers.extend(out)
            if hdrs.CONTENT_LENGTH not in out and request.method != hdrs.METH_HEAD:
                response.enable_chunked_encoding()
            try:
                await response.prepare(request)
                if request.method == hdrs.METH_HEAD:
                    return response
                if relay.head:
                    await response.write(relay.head)
                if not relay.complete:
                    async for chunk in upstream.content.iter_chunked(_CHUNK):
                        await response.write(chunk)
                await response.write_eof()
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
                if request.transport is None or request.transport.is_closing():
                    # The browser left (a tab closed, a page moved on): no one to tell.
                    log.debug("browser left during %s", upstream.url.raw_path)
                    return response
                # The status line is gone already: all that is left is to cut it short, so
                # the browser sees a broken download rather than a complete one.
                log.warning("upstream broke off %s: %s", upstream.url.raw_path, exc)
                request.transport.close()
            return response
        finally:
            upstream.release()

    def _keep_view(self, location: str, mode: Mode) -> str:
        """A redirect met through a mode link stays in that view, on the same site."""
        origin = self.links.public_origin
        if location.startswith(origin + "/"):
            location = location[len(origin) :]
        if location.startswith("/") and not location.startswith("//"):
            return toolbar.mode_link(self.settings.prefix, mode, location)
        return location


def _etag(page_digest: str, added: str, mode: Mode) -> str:
    """A validator per variant, from what decides its bytes: the rewritten page (its digest,
    made once) and the markup this mode added, so another mode or page never matches."""
    digest = hashlib.blake2b((page_digest + added).encode(), digest_size=12).hexdigest()
    return f'W/"{digest}-{mode.token}"'
