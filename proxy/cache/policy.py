"""HTTP caching rules for the proxy's cache of rewritten pages (RFC 9111, pure).

The proxy is a *shared* cache: one stored answer may be served to many users. Wherever RFC 9111
lets a private cache do more (``private``, ``Authorization``, cookies) these rules take the shared
side. Headers in, decisions out; nothing here reads a clock, so "now" is always a parameter.
"""

from __future__ import annotations

import calendar
import math
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol, Self
from urllib.parse import urljoin, urlsplit

from multidict import CIMultiDict


class Headers(Protocol):
    """What the rules read from a header multidict (``CIMultiDict``, ``CIMultiDictProxy``)."""

    def getall(self, key: str, default: list[str], /) -> list[str]: ...

    def __iter__(self) -> Iterator[str]: ...


#: The request's values of the fields a response varies on: (lowercase name, value) pairs.
VaryKey = tuple[tuple[str, str], ...]

#: RFC 9110 §15.1: statuses a cache may store without explicit freshness.
HEURISTICALLY_CACHEABLE: Final = frozenset(
    {200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501}
)
#: Final statuses whose meaning the proxy understands (RFC 9111 §3). 206 and 304 are left out:
#: the proxy stores whole rewritten pages, never ranges or bodiless validations.
UNDERSTOOD_STATUSES: Final = (HEURISTICALLY_CACHEABLE - {206}) | frozenset(
    {302, 303, 307, 400, 403, 500, 502, 503, 504}
)
#: RFC 9111 §4.2.2 suggests 10 % of the time since Last-Modified ...
HEURISTIC_FRACTION: Final = 0.1
#: ... and a cap, so a page untouched for years is still checked daily.
HEURISTIC_MAX_LIFETIME: Final = 86_400.0
#: How long past staleness an entry with a validator is kept, so it can be revalidated cheaply.
KEEP_FOR_REVALIDATION: Final = 86_400.0
#: RFC 9111 §1.2.2: a delta-seconds larger than this is taken as this.
_DELTA_SECONDS_MAX: Final = 2**31
#: Responses from these methods never invalidate (RFC 9110 §9.2.1); any other method does.
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Fields a 304 must not overwrite: they describe the message, not the stored content
#: (RFC 9111 §3.2), or are hop-by-hop (RFC 9110 §7.6.1). Set-Cookie is per user, never shared.
_NOT_UPDATED_BY_304: Final = frozenset(
    {
        "connection",
        "content-encoding",
        "content-length",
        "content-range",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# The proxy negotiates content coding itself and keeps one compressed form per coding.
_HANDLED_BY_PROXY: Final = frozenset({"accept-encoding"})
_DIGITS: Final = re.compile(r"[0-9]+")
_WHITESPACE: Final = re.compile(r"\s+")
_QUOTED_ETAG: Final = re.compile(r'(?:W/)?"([^"]*)"')
_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_MONTH: Final = "(?P<month>" + "|".join(_MONTHS) + ")"
_TIME: Final = "(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
_DAY_NAME: Final = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY_NAME: Final = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
#: RFC 9110 §5.6.7, each form with whether its year has four digits. [0-9], not \d: other
#: scripts' digits are not digits here.
_HTTP_DATES: Final = (
    # IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    (
        re.compile(f"{_DAY_NAME}, (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) {_TIME} GMT"),
        True,
    ),
    # rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT
    (
        re.compile(
            f"{_LONG_DAY_NAME}, (?P<day>[0-9]{{2}})-{_MONTH}-(?P<year>[0-9]{{2}}) {_TIME} GMT"
        ),
        False,
    ),
    # asctime-date: Sun Nov  6 08:49:37 1994
    (
        re.compile(f"{_DAY_NAME} {_MONTH} (?P<day>[0-9]{{2}}| [0-9]) {_TIME} (?P<year>[0-9]{{4}})"),
        True,
    ),
)


# -- field helpers ---------------------------------------------------------------------------


def _values(headers: Headers, name: str) -> list[str]:
    return headers.getall(name, [])


def _list_items(values: Iterable[str]) -> list[str]:
    """Items of a comma-separated list field (RFC 9110 §5.6.1), empty items dropped."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def parse_http_date(value: str, *, now: float) -> float | None:
    """An HTTP-date as epoch seconds, or None if it is not one (RFC 9110 §5.6.7).

    Exactly the three formats: IMF-fixdate, and the obsolete RFC 850 and asctime forms a
    recipient must accept; case-sensitive, single spaces, GMT only. Anything else, however
    plausible (a two-digit year in IMF-fixdate, a missing comma, a numeric or other zone,
    a one-digit hour), is invalid: for Expires that means already expired (RFC 9111 §5.3),
    not a guess that could keep a page fresh for decades. The day name is not checked
    against the date, as the RFC does not ask recipients to. ``now`` places the RFC 850
    form's two-digit year.
    """
    text = value.strip(" \t")
    for pattern, long_year in _HTTP_DATES:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        fields = match.groupdict()
        year = int(fields["year"])
        if not long_year:
            year = _two_digit_year(year, now)
        return _epoch(year, _MONTHS[fields["month"]], fields)
    return None


def _two_digit_year(year: int, now: float) -> int:
    # RFC 9110 §5.6.7: a year that appears more than 50 years in the future is the most
    # recent past year with the same last two digits.
    this_year = time.gmtime(now).tm_year
    year += this_year - this_year % 100
    return year - 100 if year > this_year + 50 else year


def _epoch(year: int, month: int, fields: dict[str, str]) -> float | None:
    day, hour, minute, second = (int(fields[name]) for name in ("day", "hour", "minute", "second"))
    if hour > 23 or minute > 59 or second > 60:  # 60: a leap second
        return None
    try:
        datetime(year, month, day, tzinfo=UTC)  # no 31 February, no year 0
    except ValueError:
        return None
    return float(calendar.timegm((year, month, day, hour, minute, second)))


def _date_field(headers: Headers, name: str, now: float) -> float | None:
    values = _values(headers, name)
    # Two different Date or Expires lines make the field invalid (RFC 9110 §5.3).
    if len(set(values)) != 1:
        return None
    return parse_http_date(values[0], now=now)


def _delta_seconds(argument: str | None) -> int | None:
    if argument is None or not _DIGITS.fullmatch(argument):
        return None
    return min(int(argument), _DELTA_SECONDS_MAX)


def _directives(field_value: str) -> Iterator[tuple[str, str | None]]:
    """Split one Cache-Control value into (lowercase name, argument) pairs, tolerating junk."""
    i, end = 0, len(field_value)
    while i < end:
        j = i
        while j < end and field_value[j] not in "=,":
            j += 1
        name = field_value[i:j].strip().lower()
        argument: str | None = None
        if j < end and field_value[j] == "=":
            j += 1
            while j < end and field_value[j] in " \t":
                j += 1
            if j < end and field_value[j] == '"':
                # A quoted argument may hold commas and backslash escapes (RFC 9110 §5.6.4).
                chars: list[str] = []
                j += 1
                while j < end and field_value[j] != '"':
                    if field_value[j] == "\\" and j + 1 < end:
                        j += 1
                    chars.append(field_value[j])
                    j += 1
                argument = "".join(chars)
                while j < end and field_value[j] != ",":
                    j += 1
            else:
                start = j
                while j < end and field_value[j] != ",":
                    j += 1
                argument = field_value[start:j].strip()
        if name:
            yield name, argument
        i = j + 1


# -- Cache-Control -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheControl:
    """The Cache-Control directives of a request or response (RFC 9111 §5.2), parsed once.

    ``no-cache`` and ``private`` with field names are treated as bare: the proxy cannot store
    part of a response. An invalid ``max-age`` or ``s-maxage`` reads as 0 (stale), as §4.2.1
    advises; other invalid numbers are ignored. ``max_stale`` is ``math.inf`` when bare.
    """

    no_store: bool = False
    no_cache: bool = False
    private: bool = False
    public: bool = False
    max_age: int | None = None
    s_maxage: int | None = None
    must_revalidate: bool = False
    proxy_revalidate: bool = False
    no_transform: bool = False
    immutable: bool = False
    stale_while_revalidate: int | None = None
    stale_if_error: int | None = None
    only_if_cached: bool = False
    max_stale: float | None = None
    min_fresh: int | None = None

    @classmethod
    def parse(cls, values: Iterable[str]) -> Self:
        """Parse every Cache-Control field value of one message together."""
        seen: dict[str, list[str | None]] = {}
        for value in values:
            for name, argument in _directives(value):
                seen.setdefault(name, []).append(argument)

        def number(name: str) -> int | None:
            arguments = set(seen.get(name, ()))
            # A directive repeated with different values is invalid (RFC 9111 §4.2.1).
            return _delta_seconds(arguments.pop()) if len(arguments) == 1 else None

        def freshness(name: str) -> int | None:
            if name not in seen:
                return None
            value = number(name)
            return 0 if value is None else value

        max_stale: float | None = number("max-stale")
        if set(seen.get("max-stale", ())) == {None}:
            max_stale = math.inf  # a bare max-stale accepts any staleness (§5.2.1.2)
        return cls(
            no_store="no-store" in seen,
            no_cache="no-cache" in seen,
            private="private" in seen,
            public="public" in seen,
            max_age=freshness("max-age"),
            s_maxage=freshness("s-maxage"),
            must_revalidate="must-revalidate" in seen,
            proxy_revalidate="proxy-revalidate" in seen,
            no_transform="no-transform" in seen,
            immutable="immutable" in seen,
            stale_while_revalidate=number("stale-while-revalidate"),
            stale_if_error=number("stale-if-error"),
            only_if_cached="only-if-cached" in seen,
            max_stale=max_stale,
            min_fresh=number("min-fresh"),
        )

    @classmethod
    def of(cls, headers: Headers) -> Self:
        """The directives of a message's headers."""
        return cls.parse(_values(headers, "Cache-Control"))


# -- storing ------------------------------------------------------------------------------------


def has_validator(response_headers: Headers) -> bool:
    """Whether the response can be revalidated with a conditional request (RFC 9110 §8.8)."""
    return bool(_values(response_headers, "ETag") or _values(response_headers, "Last-Modified"))


def storable(
    method: str,
    status: int,
    request_headers: Headers,
    response_headers: Headers,
    *,
    session_cookies: bool,
) -> bool:
    """Whether a shared cache may store this response (RFC 9111 §3, §3.5); see
    :func:`not_stored_because`."""
    return (
        not_stored_because(
            method, status, request_headers, response_headers, session_cookies=session_cookies
        )
        is None
    )


def not_stored_because(
    method: str,
    status: int,
    request_headers: Headers,
    response_headers: Headers,
    *,
    session_cookies: bool,
) -> str | None:
    """Why a shared cache may not store this response (RFC 9111 §3, §3.5), in a word an
    operator's metric can carry; None when it may.

    ``session_cookies`` says the request carried cookies that may hold a session (see
    :mod:`proxy.cache.cookies`): the answer may then be personal, and is stored only when the
    upstream says ``public``. Responses marked ``no-transform`` are not rewritten by the proxy,
    so never stored here.
    """
    # A HEAD answer has no body to rewrite; a stored GET answer can serve HEAD requests too.
    if method != "GET":
        return "method"
    if status not in UNDERSTOOD_STATUSES:
        return "status"
    cc = CacheControl.of(response_headers)
    if CacheControl.of(request_headers).no_store or cc.no_store:
        return "no-store"
    if cc.no_transform:
        return "no-transform"
    if cc.private:
        return "private"
    if "*" in _list_items(_values(response_headers, "Vary")):
        return "vary-star"
    # A cookie set for one user must never be replayed to another.
    if _values(response_headers, "Set-Cookie"):
        return "set-cookie"
    explicitly_shared = cc.public or cc.s_maxage is not None or cc.must_revalidate
    if _values(request_headers, "Authorization") and not explicitly_shared:
        return "authorization"
    if session_cookies and not cc.public:
        return "cookie"
    if cc.s_maxage is not None or cc.max_age is not None or _values(response_headers, "Expires"):
        return None
    # No explicit freshness: heuristic freshness or a validator make storing worthwhile, but
    # only for statuses the RFC allows without explicit freshness, or when ``public`` says so.
    if (status in HEURISTICALLY_CACHEABLE or cc.public) and has_validator(response_headers):
        return None
    return "no-freshness"


# -- freshness and age --------------------------------------------------------------------------


def freshness_lifetime(response_headers: Headers, *, now_date: float) -> float:
    """How long the response stays fresh, in seconds (RFC 9111 §4.2.1, §4.2.2).

    ``now_date`` stands in for a missing or invalid Date (the time the response arrived).
    Heuristic freshness assumes :func:`storable` has already admitted the response.
    """
    cc = CacheControl.of(response_headers)
    if cc.s_maxage is not None:
        return float(cc.s_maxage)
    if cc.max_age is not None:
        return float(cc.max_age)
    date = _date_field(response_headers, "Date", now_date)
    if date is None:
        date = now_date
    if _values(response_headers, "Expires"):
        expires = _date_field(response_headers, "Expires", now_date)
        # An invalid Expires, such as "0", means already expired (RFC 9111 §5.3).
        return 0.0 if expires is None else max(0.0, expires - date)
    last_modified = _date_field(response_headers, "Last-Modified", now_date)
    if last_modified is None:
        return 0.0
    return min(HEURISTIC_FRACTION * max(0.0, date - last_modified), HEURISTIC_MAX_LIFETIME)


def initial_age(response_headers: Headers, *, request_time: float, response_time: float) -> float:
    """The response's age when it arrived (RFC 9111 §4.2.3, corrected_initial_age)."""
    date = _date_field(response_headers, "Date", response_time)
    apparent_age = max(0.0, response_time - (response_time if date is None else date))
    ages = _list_items(_values(response_headers, "Age"))
    age_value = _delta_seconds(ages[0]) if ages else None
    response_delay = max(0.0, response_time - request_time)
    corrected_age_value = (age_value or 0) + response_delay
    return max(apparent_age, corrected_age_value)


@dataclass(frozen=True, slots=True)
class Freshness:
    """A stored response's freshness facts, and the decisions that follow (RFC 9111 §4.2).

    ``must_revalidate`` covers must-revalidate, proxy-revalidate and s-maxage, which implies
    proxy-revalidate for a shared cache (§5.2.2.10); with it or ``no_cache`` a stale answer is
    never served. ``swr`` and ``sie`` are the stale-while-revalidate and stale-if-error windows
    (RFC 5861), 0 when absent.
    """

    lifetime: float
    initial_age: float
    response_time: float
    swr: float = 0.0
    sie: float = 0.0
    must_revalidate: bool = False
    no_cache: bool = False
    has_validator: bool = False

    @classmethod
    def of(cls, response_headers: Headers, request_time: float, response_time: float) -> Self:
        """The freshness of a response asked for at ``request_time``, got at ``response_time``."""
        cc = CacheControl.of(response_headers)
        return cls(
            lifetime=freshness_lifetime(response_headers, now_date=response_time),
            initial_age=initial_age(
                response_headers, request_time=request_time, response_time=response_time
            ),
            response_time=response_time,
            swr=float(cc.stale_while_revalidate or 0),
            sie=float(cc.stale_if_error or 0),
            must_revalidate=cc.must_revalidate or cc.proxy_revalidate or cc.s_maxage is not None,
            no_cache=cc.no_cache,
            has_validator=has_validator(response_headers),
        )

    def age(self, now: float) -> float:
        """The current age, to send in the Age header (RFC 9111 §4.2.3, current_age)."""
        return self.initial_age + max(0.0, now - self.response_time)

    def is_fresh(self, now: float) -> bool:
        """Whether the freshness lifetime exceeds the current age (RFC 9111 §4.2)."""
        return self.lifetime > self.age(now)

    def needs_revalidation(self, now: float) -> bool:
        """Whether the entry may not be served without asking upstream (RFC 9111 §4, §5.2.2.4)."""
        return self.no_cache or not self.is_fresh(now)

    def _may_serve_unvalidated(self, now: float, window: float) -> bool:
        # RFC 9111 §4.2.4: no-cache and the revalidate directives forbid stale answers.
        if self.no_cache:
            return False
        if self.is_fresh(now):
            return True
        return not self.must_revalidate and self.age(now) < self.lifetime + window

    def may_serve_stale_while_revalidate(self, now: float) -> bool:
        """Whether the entry may be served while it is revalidated behind (RFC 5861 §3)."""
        return self._may_serve_unvalidated(now, self.swr)

    def may_serve_stale_if_error(self, now: float) -> bool:
        """Whether the entry may stand in for an upstream failure or 5xx (RFC 5861 §4)."""
        return self._may_serve_unvalidated(now, self.sie)

    def expires_at(self) -> float:
        """The last moment the entry is of any use without a validator (fresh + stale windows)."""
        if self.no_cache:
            return self.response_time
        window = 0.0 if self.must_revalidate else max(self.swr, self.sie)
        return self.response_time - self.initial_age + self.lifetime + window

    def keep_until(self) -> float:
        """How long to keep the entry: longer than :meth:`expires_at` if it can be revalidated."""
        if not self.has_validator:
            return self.expires_at()
        if self.no_cache:
            stale_at = self.response_time
        else:
            stale_at = self.response_time - self.initial_age + self.lifetime
        return max(self.expires_at(), stale_at + KEEP_FOR_REVALIDATION)


# -- keys, invalidation, validation ------------------------------------------------------------


def vary_key(vary_values: Iterable[str], request_headers: Headers) -> VaryKey | None:
    """The request's values of the fields a response varies on (RFC 9111 §4.1), or None for ``*``.

    Pass the headers of the request as sent upstream. Names are lowercased and sorted, values
    whitespace-normalised, several lines joined by ", "; an absent field reads as "". The proxy
    handles Accept-Encoding itself, so it is left out. Vary: * means no stored answer matches.
    """
    names = {item.lower() for item in _list_items(vary_values)}
    if "*" in names:
        return None
    return tuple(
        (name, _normalise(_values(request_headers, name)))
        for name in sorted(names - _HANDLED_BY_PROXY)
    )


def _normalise(values: list[str]) -> str:
    # Whitespace around commas and runs of spaces carry no meaning in field values (RFC 9110 §5.6).
    items = (_WHITESPACE.sub(" ", item).strip() for value in values for item in value.split(","))
    return ", ".join(item for item in items if item)


def invalidates(method: str, status: int) -> bool:
    """Whether this response must invalidate stored answers for its URL (RFC 9111 §4.4).

    Methods are case-sensitive (RFC 9110 §9.1): an unknown one, "get" included, invalidates.
    """
    return method not in _SAFE_METHODS and 200 <= status < 400


def invalidated_urls(request_url: str, response_headers: Headers) -> list[str]:
    """The URLs an invalidating response clears (RFC 9111 §4.4).

    The request's own URL, and its Location and Content-Location when they share its origin.
    """
    origin = urlsplit(request_url)[:2]
    urls = [request_url]
    for name in ("Location", "Content-Location"):
        for value in _values(response_headers, name)[:1]:
            url = urljoin(request_url, value.strip())
            if urlsplit(url)[:2] == origin and url not in urls:
                urls.append(url)
    return urls


def conditional_headers(stored_response_headers: Headers) -> dict[str, str]:
    """Validators to send upstream when revalidating a stored response (RFC 9111 §4.3.1)."""
    conditions: dict[str, str] = {}
    etags = _values(stored_response_headers, "ETag")
    if etags:
        conditions["If-None-Match"] = etags[0].strip()
    last_modified = _values(stored_response_headers, "Last-Modified")
    if last_modified:
        conditions["If-Modified-Since"] = last_modified[0].strip()
    return conditions


def merge_304(stored_headers: Headers, not_modified_headers: Headers) -> CIMultiDict[str]:
    """The stored headers updated from a 304 (RFC 9111 §3.2, §4.3.4).

    Each field of the 304 replaces all stored lines of that name, except framing, hop-by-hop
    and Set-Cookie fields. Run :func:`storable` on the result: a 304 may withdraw permission.
    """
    skip = set(_NOT_UPDATED_BY_304)
    skip.update(item.lower() for item in _list_items(_values(not_modified_headers, "Connection")))
    merged: CIMultiDict[str] = CIMultiDict()
    updates: CIMultiDict[str] = CIMultiDict()
    for name in _field_names(not_modified_headers):
        if name.lower() not in skip:
            for value in _values(not_modified_headers, name):
                updates.add(name, value)
    for name in _field_names(stored_headers):
        if name not in updates:
            for value in _values(stored_headers, name):
                merged.add(name, value)
    merged.extend(updates)
    return merged


def _field_names(headers: Headers) -> list[str]:
    # A multidict yields a name once per field line; keep each name once, as first spelled.
    names: dict[str, str] = {}
    for name in headers:
        names.setdefault(name.lower(), name)
    return list(names.values())


def if_none_match_matches(header_value: str, etag: str) -> bool:
    """Whether If-None-Match names ``etag``, by weak comparison (RFC 9110 §13.1.2, §8.8.3.2)."""
    if header_value.strip() == "*":
        return True
    wanted = _QUOTED_ETAG.fullmatch(etag.strip())
    if wanted is None:
        return False
    return wanted.group(1) in _QUOTED_ETAG.findall(header_value)


def _utf8(text: str) -> bytes:
    # Header text decoded with surrogateescape may hold lone surrogates; hash them all the same.
    return text.encode("utf-8", "surrogatepass")
