"""Which of a browser's cookies can make a page personal, judged by their names (pure).

A shared cache must not hand one reader's page to another, so a request that carries a
session is answered only with pages the site made public. But nearly every returning reader
also carries cookies that never change a page: analytics and consent banners set them from
script, and the site's server does not read them. Counting those as sessions would send every
such reader past the cache. So the proxy looks at names: the well-known analytics and consent
cookies below never make a request personal, an operator can add the site's own such cookies
(``--ignore-cookies``), or name the site's session cookies (``--session-cookies``) so that
only they do. Every cookie is still forwarded upstream as the browser sent it; and whatever
the upstream answers with ``Set-Cookie``, ``private`` or ``Vary: Cookie`` keeps its meaning.

Names are matched case-sensitively, as browsers and servers compare them, against shell-style
patterns (``_ga_*``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from proxy.rewriting.modes import COOKIE_NAME

#: Cookies set by analytics, advertising measurement, bot filtering and consent managers. They
#: are read by script or by third parties, not by the site's pages, so a page requested with
#: them is the page everyone gets.
ANALYTICS_AND_CONSENT: Final = (
    # Google Analytics (gtag and the older ga.js/urchin), Google Ads conversion linker
    "_ga",
    "_ga_*",
    "_gid",
    "_gat",
    "_gat_*",
    "_gcl_*",
    "__utm?",
    # Yandex Metrica, common on Ukrainian and other post-Soviet sites
    "_ym_*",
    # Meta pixel, Microsoft Clarity and Bing, Hotjar, TikTok, Matomo
    "_fbp",
    "_fbc",
    "_clck",
    "_clsk",
    "_uetsid",
    "_uetvid",
    "_hj*",
    "_ttp",
    "_pk_id.*",
    "_pk_ses.*",
    "mtm_consent*",
    # Cloudflare's bot and rate filtering
    "__cf_bm",
    "_cfuvid",
    # Consent managers: OneTrust, Cookiebot, Osano's cookieconsent, IAB TCF, CookieYes,
    # Complianz, Didomi, Borlabs, CookieScript
    "OptanonConsent",
    "OptanonAlertBoxClosed",
    "CookieConsent",
    "cookieconsent_status",
    "euconsent",
    "euconsent-v2",
    "addtl_consent",
    "cookieyes-consent",
    "cookielawinfo-*",
    "viewed_cookie_policy",
    "cmplz_*",
    "didomi_token",
    "borlabs-cookie",
    "CookieScriptConsent",
)

# A cookie name is an RFC 9110 token; a pattern adds the shell wildcards.
_PATTERN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z?\[\]]+")


def parse_names(value: str) -> tuple[str, ...]:
    """Comma-separated cookie names or patterns, as ``--session-cookies`` takes them."""
    names = tuple(item.strip() for item in value.split(",") if item.strip())
    for name in names:
        if not _PATTERN.fullmatch(name):
            raise ValueError(
                "must be cookie names, * and ? allowed, separated by commas (such as "
                "PHPSESSID, wordpress_logged_in_*)"
            )
    return names


def _matcher(patterns: Iterable[str]) -> re.Pattern[str] | None:
    patterns = tuple(patterns)
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


@dataclass(frozen=True, slots=True, init=False)
class SessionCookies:
    """The rule that says which cookies are sessions; made once from the settings."""

    _ignored: re.Pattern[str] | None
    _sessions: re.Pattern[str] | None

    def __init__(self, sessions: Iterable[str] = (), ignored: Iterable[str] = ()) -> None:
        """``sessions``: when given, only cookies so named are sessions. ``ignored``: names
        that never are, besides :data:`ANALYTICS_AND_CONSENT` and the proxy's own cookie."""
        object.__setattr__(self, "_sessions", _matcher(sessions))
        object.__setattr__(self, "_ignored", _matcher((*ANALYTICS_AND_CONSENT, *ignored)))

    def names(self, cookie_headers: Iterable[str]) -> list[str]:
        """The names of the cookies in these Cookie fields that may carry a session."""
        found: list[str] = []
        for header in cookie_headers:
            for part in header.split(";"):
                name = part.split("=", 1)[0].strip()
                if name and name != COOKIE_NAME and self._session(name) and name not in found:
                    found.append(name)
        return found

    def _session(self, name: str) -> bool:
        if self._sessions is not None:
            return self._sessions.match(name) is not None
        return self._ignored is None or self._ignored.match(name) is None
