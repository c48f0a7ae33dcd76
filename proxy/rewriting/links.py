"""Pointing upstream links back at the proxy (pure).

A link belongs to the upstream when its host is the upstream's host and its port is the
upstream's port, written explicitly or implied by the scheme; http and https count as the same
site, because CMS pages mix them. Only the origin is replaced (a user name or password before
the host goes with it): path, query and fragment stay exactly as written, so nothing is
re-encoded behind the author's back. Relative links need no work: they already resolve
against the proxy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from yarl import URL

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# A URL the browser would treat as absolute: an http(s) scheme or a scheme-relative "//".
_ABSOLUTE: Final = re.compile(r"^[\t\n\f\r ]*(?:(https?):)?[\\/]{2}([^/\\?#]*)(.*)$", re.I | re.S)
_SRCSET_CANDIDATE: Final = re.compile(r"([\t\n\f\r ]*)([^\t\n\f\r ,][^\t\n\f\r ]*)([^,]*(?:,|$))")
_REFRESH: Final = re.compile(
    r"^(\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?)(['\"]?)(.*?)(\2\s*)$", re.I | re.S
)


@dataclass(frozen=True, slots=True)
class LinkMap:
    """Maps absolute links on the upstream origin to the public origin."""

    upstream: URL
    public: URL

    @property
    def public_origin(self) -> str:
        return str(self.public.origin())

    def owns(self, scheme: str | None, authority: str) -> bool:
        """Whether ``//authority`` under ``scheme`` names the upstream origin."""
        # A browser takes the host from after the last "@" (what comes before is a user name
        # and password): http://user@site/ is the site, http://site@evil.example/ is not.
        # The mapped link keeps no userinfo: it would be credentials for the upstream handed
        # to the proxy, and browsers ask before opening such a link or drop it.
        authority = authority.rpartition("@")[2]
        host, _, port_text = (
            authority.rpartition(":") if _has_port(authority) else (authority, "", "")
        )
        if host.lower().rstrip(".") != (self.upstream.host or "").lower():
            return False
        scheme = (scheme or self.upstream.scheme).lower()
        port = int(port_text) if port_text else _DEFAULT_PORTS.get(scheme)
        upstream_port = self.upstream.port
        if port == upstream_port:
            return True
        # http://site/ and https://site/ are one site when it uses the default ports.
        return upstream_port == _DEFAULT_PORTS.get(
            self.upstream.scheme
        ) and port == _DEFAULT_PORTS.get(scheme)

    def url(self, value: str) -> str:
        """One URL attribute value, pointed at the proxy if it points at the upstream."""
        match = _ABSOLUTE.match(value)
        if match is None or not self.owns(match.group(1), match.group(2)):
            return value
        rest = match.group(3)
        if rest[:1] not in ("", "/", "?", "#"):
            rest = "/" + rest
        return self.public_origin + rest

    def srcset(self, value: str) -> str:
        """A ``srcset`` list: each candidate's URL mapped, descriptors kept."""
        if "/" not in value:
            return value
        return _SRCSET_CANDIDATE.sub(
            lambda m: m.group(1) + self.url(m.group(2)) + m.group(3), value
        )

    def refresh(self, value: str) -> str:
        """A ``<meta http-equiv=refresh>`` content or Refresh header: ``5; url=...``."""
        match = _REFRESH.match(value)
        if match is None or not match.group(3):
            return value
        prefix, quote, target, suffix = match.groups()
        return prefix + quote + self.url(target) + suffix


def _has_port(authority: str) -> bool:
    # "[::1]:8080" has a port, "[::1]" does not; "host:8080" has one.
    if authority.startswith("["):
        return "]:" in authority
    return ":" in authority and authority.rpartition(":")[2].isdigit()
