"""Header fields across the proxy, in both directions (pure).

A gateway forwards end-to-end fields and drops hop-by-hop ones (RFC 9110 §7.6.1), says who it is
in Via, and rewrites the fields that name the upstream origin so the browser stays on the proxy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

from proxy.links import LinkMap
from proxy.modes import COOKIE_NAME

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


def strip_mode_cookie(cookie_header: str) -> str:
    """The Cookie header without the proxy's own cookie: the upstream never sees it."""
    pairs = [part for part in cookie_header.split(";") if part.strip()]
    kept = [p for p in pairs if p.split("=", 1)[0].strip() != COOKIE_NAME]
    return ";".join(kept).strip()


def upstream_cookies(cookie_headers: Iterable[str]) -> bool:
    """Whether the browser sends the upstream any cookie of its own (a possible session)."""
    for header in cookie_headers:
        for part in header.split(";"):
            name = part.split("=", 1)[0].strip()
            if name and name != COOKIE_NAME:
                return True
    return False


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


def rewrite_location(value: str, links: LinkMap) -> str:
    return links.url(value)


def rewrite_link_header(value: str, links: LinkMap) -> str:
    """Each ``<url>`` of a Link field mapped; parameters untouched."""
    return _LINK_TARGET.sub(lambda m: f"<{links.url(m.group(1))}>", value)


def is_safe_value(value: str) -> bool:
    """No CR, LF or NUL: such a value could split a header."""
    return not any(ch in value for ch in "\r\n\0")
