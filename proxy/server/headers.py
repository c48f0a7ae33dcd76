"""Header fields across the proxy, in both directions (pure).

A gateway forwards end-to-end fields and drops hop-by-hop ones (RFC 9110 §7.6.1), says who it is
in Via, and rewrites the fields that name the upstream origin so the browser stays on the proxy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from proxy.rewriting.links import LinkMap
from proxy.rewriting.modes import COOKIE_NAME

HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
VIA: Final = "1.1 a11y-proxy"
# Fields that say who the client is and how it came: anyone can write them, so they are
# believed (and passed on) only from a trusted proxy in front of this one.
_CLIENT_FORWARDING: Final = frozenset({"forwarded", "x-real-ip"})
_CLIENT_FORWARDING_PREFIX: Final = "x-forwarded-"
#: Fields some frameworks and servers obey to change a request's URL, method or host after it
#: arrived (X-Original-URL, X-HTTP-Method-Override, ...). The cache keys pages by URL alone, so
#: one of these could store a different page under an innocent URL, or reach a path the front
#: proxy blocks. Nobody forwards for anyone with them, so they are dropped from every client,
#: trusted proxies included; X-Forwarded-Server names a proxy, not the client, and goes too.
OVERRIDES: Final = frozenset(
    {
        "x-original-url",
        "x-rewrite-url",
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
        "x-host",
        "x-forwarded-server",
    }
)
_LINK_TARGET: Final = re.compile(r"<([^>]*)>")
_DOMAIN_ATTRIBUTE: Final = re.compile(r";\s*domain\s*=[^;]*", re.IGNORECASE)

Headers = CIMultiDict[str] | CIMultiDictProxy[str]


def end_to_end(headers: Headers) -> CIMultiDict[str]:
    """A copy without hop-by-hop fields, including every field Connection names."""
    named = {
        token.strip().lower()
        for value in headers.getall("Connection", ())
        for token in value.split(",")
    }
    drop = HOP_BY_HOP | named
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() not in drop:
            out.add(name, value)
    return out


def for_upstream(
    incoming: Headers, *, remote: str | None, trusted: bool, public: URL
) -> CIMultiDict[str]:
    """The browser's request fields as the upstream gets them.

    Hop-by-hop fields, Host (the client session sets the upstream's) and the :data:`OVERRIDES`
    go, the proxy's own cookie goes, and the forwarding fields say who asked and through which
    public origin.
    """
    out = end_to_end(incoming)
    out.popall("Host", None)
    for name in OVERRIDES:
        out.popall(name, None)
    cookies = [strip_mode_cookie(value) for value in out.popall("Cookie", [])]
    out.extend(("Cookie", value) for value in cookies if value)
    _forwarding(out, remote=remote, trusted=trusted, public=public)
    out.add("Via", VIA)
    return out


def _forwarding(out: CIMultiDict[str], *, remote: str | None, trusted: bool, public: URL) -> None:
    """X-Forwarded-For/-Proto/-Host and Forwarded (RFC 7239) for one more hop."""
    if not trusted:
        for name in [n for n in out if _is_client_forwarding(n)]:
            out.popall(name, None)
    chain = [v.strip() for value in out.popall("X-Forwarded-For", []) for v in value.split(",")]
    if remote:
        chain.append(remote)
    if chain:
        out["X-Forwarded-For"] = ", ".join(v for v in chain if v)
    # The public origin is configured, so it is known better than any client could tell it.
    out["X-Forwarded-Proto"] = public.scheme
    out["X-Forwarded-Host"] = public.raw_authority
    out.add("Forwarded", f'for={_node(remote)};host="{public.raw_authority}";proto={public.scheme}')


def _is_client_forwarding(name: str) -> bool:
    lowered = name.lower()
    return lowered in _CLIENT_FORWARDING or lowered.startswith(_CLIENT_FORWARDING_PREFIX)


def _node(remote: str | None) -> str:
    """A Forwarded ``for=`` node: an IPv6 address is bracketed and quoted, none is unknown."""
    if not remote:
        return "unknown"
    return f'"[{remote}]"' if ":" in remote else remote


def accepts(incoming: Headers, types: Iterable[str]) -> bool:
    """Whether the request's Accept names one of ``types`` itself (``*/*`` does not count),
    with a weight above 0: a browser loading a page or a stylesheet, not a media player."""
    wanted = {name.lower() for name in types}
    for value in incoming.getall("Accept", ()):
        for item in value.split(","):
            media, *params = (part.strip() for part in item.split(";"))
            if media.lower() in wanted and not any(_zero_weight(p) for p in params):
                return True
    return False


def _zero_weight(param: str) -> bool:
    name, _, value = param.partition("=")
    if name.strip().lower() != "q":
        return False
    try:
        return float(value) <= 0
    except ValueError:
        return True  # as codings.py reads a bad q: not wanted


def without_range(outgoing: CIMultiDict[str]) -> CIMultiDict[str]:
    """A copy without Range and If-Range: pages are rewritten and stored whole."""
    out = CIMultiDict(outgoing)
    out.popall("Range", None)
    out.popall("If-Range", None)
    return out


def wants_websocket(incoming: Headers) -> bool:
    """Whether the request asks to become a WebSocket (RFC 6455 §4.1)."""
    return any(
        token.strip().lower() == "websocket"
        for value in incoming.getall("Upgrade", ())
        for token in value.split(",")
    )


def strip_mode_cookie(cookie_header: str) -> str:
    """The Cookie header without the proxy's own cookie: the upstream never sees it."""
    pairs = [part for part in cookie_header.split(";") if part.strip()]
    kept = [p for p in pairs if p.split("=", 1)[0].strip() != COOKIE_NAME]
    return ";".join(kept).strip()


def mode_cookie(cookie_headers: Iterable[str]) -> str | None:
    """The value of the proxy's cookie, if the browser sent one; parsed leniently."""
    for header in cookie_headers:
        for part in header.split(";"):
            name, _, value = part.partition("=")
            if name.strip() == COOKIE_NAME:
                return value.strip().strip('"')
    return None


def rewrite_set_cookie(value: str) -> str:
    """Keep the upstream's cookie, but let the browser store it for the proxy's host.

    A Domain naming the upstream would make the browser drop the cookie; without Domain it is a
    host-only cookie of the public host. Path and every other attribute stay.
    """
    return _DOMAIN_ATTRIBUTE.sub("", value)


def rewrite_link_header(value: str, links: LinkMap) -> str:
    """Each ``<url>`` of a Link field mapped; parameters untouched."""
    return _LINK_TARGET.sub(lambda m: f"<{links.url(m.group(1))}>", value)
