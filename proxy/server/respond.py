"""The answer a browser gets: a stored page in the reader's mode, or the site's response
relayed as it came.

A rewritten page becomes one :class:`~proxy.cache.pages.Variant` per mode the first time a
reader asks for that mode (the toolbar, the mode stylesheet and the layout filled into the
page's slots), with its own validator and fields; a response the proxy does not rewrite is
streamed in bounded memory, its header fields fitted for the browser (origins mapped to the
proxy's, hop-by-hop fields gone).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, NamedTuple

import aiohttp
from aiohttp import hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.cache.pages import Entry, Variant
from proxy.cache.policy import if_none_match_matches
from proxy.rewriting import codings, placement, toolbar, viewport
from proxy.rewriting.assets import Stylesheets
from proxy.rewriting.links import LinkMap
from proxy.rewriting.modes import Mode
from proxy.server import headers
from proxy.server.config import Settings

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

#: Which variant of a page: the mode's token and whether it was reached by a mode link.
Slot = tuple[str, bool]


class View(NamedTuple):
    """What a reader asked to see: a page of the site (its path and query), in a mode,
    through a mode link (``/_a11y/view/<mode>/...``) or a plain URL and the cookie."""

    target: str
    mode: Mode
    via_link: bool


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


class Responder:
    """Makes the browser's answer; holds nothing of a request between two."""

    def __init__(self, settings: Settings, links: LinkMap, stylesheets: Stylesheets) -> None:
        self.settings = settings
        self.links = links
        self.stylesheets = stylesheets

    def page(
        self, request: web.Request, entry: Entry, view: View, now: float | None
    ) -> tuple[web.Response, Slot | None]:
        """A rewritten page in one mode: made once per mode, then served from memory; and
        the variant that was made or compressed now (the cache accounts for its size)."""
        # A stylesheet is the same in every mode: it has one variant.
        slot = ("", False) if entry.stylesheet else (view.mode.token, view.via_link)
        variant = entry.variants.get(slot)
        grew = False
        if variant is None:
            variant = entry.variants[slot] = self._variant(entry, view)
            grew = True
        inm = request.headers.get(hdrs.IF_NONE_MATCH)
        if inm is not None and if_none_match_matches(inm, variant.headers[hdrs.ETAG]):
            response = web.Response(status=304, headers=variant.headers)
            del response.headers[hdrs.CONTENT_TYPE]
            return response, slot if grew else None
        coding = _negotiate(request.headers.get(hdrs.ACCEPT_ENCODING, ""))
        body, compressed = variant.body_for(coding)
        response = web.Response(status=entry.status, body=body, headers=variant.headers)
        if coding is not None:
            response.headers[hdrs.CONTENT_ENCODING] = coding
        if now is not None:
            response.headers[hdrs.AGE] = str(int(entry.freshness.age(now)))
        return response, slot if grew or compressed else None

    def _variant(self, entry: Entry, view: View) -> Variant:
        """Fill the page's slots for one mode (a stylesheet has none: one form for all)."""
        page = entry.page
        if entry.stylesheet:
            body = page.parts[0]
            added = ""
        else:
            prefix = self.settings.prefix
            origin = self.links.public_origin
            target, mode, via_link = view
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
        etag = _etag(entry.digest(), added, view.mode)
        return Variant(body, self._variant_headers(entry, etag, view.via_link))

    def _variant_headers(self, entry: Entry, etag: str, via_link: bool) -> CIMultiDictProxy[str]:
        out = self.browser_headers(entry.headers)
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

    def refresh_variants(self, entry: Entry) -> None:
        """After a 304: new upstream headers for every variant; no body is made again, and
        each keeps its validator, as its bytes are the same."""
        for (_, via_link), variant in entry.variants.items():
            variant.headers = self._variant_headers(entry, variant.headers[hdrs.ETAG], via_link)

    def browser_headers(
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

    async def relay(self, request: web.Request, relay: Relay, view: View) -> web.StreamResponse:
        """Relay a response the proxy does not rewrite, in bounded memory."""
        upstream = relay.response
        try:
            out = self.browser_headers(upstream.headers)
            if view.via_link and hdrs.LOCATION in out:
                out[hdrs.LOCATION] = self._keep_view(out[hdrs.LOCATION], view.mode)
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
