"""The HTTP caching rules of the proxy's shared cache (RFC 9111)."""

from __future__ import annotations

import math
import time
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.cache.policy import (
    HEURISTIC_MAX_LIFETIME,
    KEEP_FOR_REVALIDATION,
    CacheControl,
    Freshness,
    conditional_headers,
    freshness_lifetime,
    if_none_match_matches,
    initial_age,
    invalidated_urls,
    invalidates,
    merge_304,
    not_stored_because,
    parse_http_date,
    storable,
    vary_key,
)

# RFC 9110 §5.6.7's example date: Sun, 06 Nov 1994 08:49:37 GMT.
T0 = 784_111_777.0
# When the tests say "now": a two-digit year is read relative to it.
NOW = 1_767_225_600.0  # Thu, 01 Jan 2026 00:00:00 GMT
HOUR = 3600.0
DAY = 86_400.0
# RFC 9110 §8.8.3: etagc = %x21 / %x23-7E / obs-text; the proxy emits ASCII only.


def headers(*fields: tuple[str, str]) -> CIMultiDict[str]:
    """A header multidict keeping repeated fields, as they arrive on the wire."""
    return CIMultiDict(fields)


def http_date(when: float) -> str:
    return formatdate(when, usegmt=True)


def is_storable(
    response: CIMultiDict[str],
    *,
    request: CIMultiDict[str] | None = None,
    method: str = "GET",
    status: int = 200,
    session_cookies: bool = False,
) -> bool:
    return storable(method, status, request or headers(), response, session_cookies=session_cookies)


# -- HTTP dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # IMF-fixdate
        "Sunday, 06-Nov-94 08:49:37 GMT",  # obsolete RFC 850 form
        "Sun Nov  6 08:49:37 1994",  # obsolete asctime form
        " \tSun, 06 Nov 1994 08:49:37 GMT\t ",  # optional whitespace around a field value
    ],
)
def test_http_date_formats_all_parse_to_the_same_moment(value: str) -> None:
    assert parse_http_date(value, now=NOW) == T0


@pytest.mark.parametrize(
    ("value", "year"),
    [
        ("Friday, 31-Dec-76 23:59:59 GMT", 2076),  # 50 years ahead at most: the future
        ("Saturday, 01-Jan-77 00:00:00 GMT", 1977),  # further: the last such year past
        ("Monday, 01-Jan-26 00:00:00 GMT", 2026),
    ],
)
def test_a_two_digit_year_is_read_as_rfc_9110_says(value: str, year: int) -> None:
    # RFC 9110 §5.6.7: more than 50 years in the future means the latest past year.
    parsed = parse_http_date(value, now=NOW)
    assert parsed is not None and time.gmtime(parsed).tm_year == year


def test_a_leap_second_is_a_time_of_day() -> None:
    assert parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT", now=NOW) == 1_483_228_800


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "-1",
        "",
        "tomorrow",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Mon, 32 Nov 1994 08:49:37 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:60:37 GMT",
        "Sun, 06 Nov 0000 08:49:37 GMT",
        # Each of these read as a date before, 2050's among them (stored as fresh till then).
        "Thu, 01 Jan 50 00:00:00 GMT",  # a two-digit year in IMF-fixdate
        "Sun 06 Nov 1994 08:49:37 GMT",  # no comma
        "Sun, 06 Nov 1994 08:49:37",  # no zone
        "Sun,  06 Nov 1994 08:49:37 GMT",  # extra spaces
        "Sun, 06 Nov 1994  08:49:37 GMT",
        "Sun, 06  Nov 1994 08:49:37 GMT",
        "Sun, 06-Nov-1994 08:49:37 GMT",  # dashes in IMF-fixdate
        "Sun, 06 Nov 1994 08.49.37 GMT",  # dots in the time
        "Sun, 06 Nov 1994 8:49:37 GMT",  # a one-digit hour
        "Sun, 6 Nov 1994 08:49:37 GMT",  # a one-digit day
        "Sun, 06 Nov 1994 08:49 GMT",  # no seconds
        "Sun, 06 Nov 1994 08:49:37 PST",  # a zone other than GMT
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 06 Nov 1994 08:49:37 EST",
        "Sun, 06 Nov 1994 10:49:37 +0200",  # a numeric zone
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "Sun, 06 Nov 1994 08:49:37 +9999999",
        "sun, 06 nov 1994 08:49:37 gmt",  # HTTP-date is case-sensitive
        "SUN, 06 NOV 1994 08:49:37 GMT",
        "Sun, 06 November 1994 08:49:37 GMT",
        "Sunday, 06 Nov 1994 08:49:37 GMT",  # a long day name in IMF-fixdate
        "Sun, 06-Nov-94 08:49:37 GMT",  # a short day name in the RFC 850 form
        "Sunday, 06-Nov-1994 08:49:37 GMT",  # a four-digit year in the RFC 850 form
        "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",  # asctime pads a one-digit day with a space
        "Sun Nov 06 08:49:37 1994 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT junk",
        "Sun, \u0660\u0666 Nov 1994 08:49:37 GMT",  # digits, but not ASCII ones
        "Sun, 06 Nov 1994 08:49:37 GMT\x00",
    ],
)
def test_anything_but_the_three_formats_is_invalid(value: str) -> None:
    assert parse_http_date(value, now=NOW) is None


@given(st.text())
def test_date_parsing_never_fails(value: str) -> None:
    parsed = parse_http_date(value, now=NOW)
    assert parsed is None or isinstance(parsed, float)


# -- Cache-Control --------------------------------------------------------------------------------


def test_no_cache_control_means_no_directives() -> None:
    assert CacheControl.parse([]) == CacheControl()


def test_every_directive_is_read_across_field_lines() -> None:
    cc = CacheControl.parse(
        [
            "no-store, no-cache, private, public, max-age=10, s-maxage=20",
            "must-revalidate, proxy-revalidate, no-transform, immutable",
            "stale-while-revalidate=30, stale-if-error=40, only-if-cached, max-stale=50",
            "min-fresh=60",
        ]
    )
    assert cc == CacheControl(
        no_store=True,
        no_cache=True,
        private=True,
        public=True,
        max_age=10,
        s_maxage=20,
        must_revalidate=True,
        proxy_revalidate=True,
        no_transform=True,
        immutable=True,
        stale_while_revalidate=30,
        stale_if_error=40,
        only_if_cached=True,
        max_stale=50,
        min_fresh=60,
    )


def test_directive_names_are_case_insensitive_and_whitespace_tolerant() -> None:
    cc = CacheControl.parse(["  Public ,MAX-AGE = 60,\tNo-Store  "])
    assert cc.public
    assert cc.max_age == 60
    assert cc.no_store


def test_quoted_arguments_are_unquoted() -> None:
    assert CacheControl.parse(['max-age="60"']).max_age == 60


def test_field_names_in_quotes_do_not_split_the_list() -> None:
    # The comma inside the quotes belongs to no-cache's argument, not to the directive list.
    cc = CacheControl.parse(['no-cache="Set-Cookie, max-age=99", private="X-Foo", max-age=5'])
    assert cc.no_cache
    assert cc.private
    assert cc.max_age == 5


def test_escaped_quote_inside_a_quoted_argument() -> None:
    cc = CacheControl.parse(['no-cache="a\\", max-age=1", s-maxage=7'])
    assert cc.no_cache
    assert cc.max_age is None
    assert cc.s_maxage == 7


@pytest.mark.parametrize("argument", ["abc", "-1", "1.5", "", "²", "0x10", '"6 0"'])
def test_invalid_max_age_and_s_maxage_read_as_stale(argument: str) -> None:
    cc = CacheControl.parse([f"max-age={argument}, s-maxage={argument}"])
    assert cc.max_age == 0
    assert cc.s_maxage == 0


def test_bare_max_age_reads_as_stale() -> None:
    assert CacheControl.parse(["max-age"]).max_age == 0


def test_conflicting_duplicate_max_age_reads_as_stale() -> None:
    assert CacheControl.parse(["max-age=60", "max-age=3600"]).max_age == 0


def test_repeated_identical_max_age_is_kept() -> None:
    assert CacheControl.parse(["max-age=60, max-age=60"]).max_age == 60


@pytest.mark.parametrize(
    "directive", ["stale-while-revalidate", "stale-if-error", "min-fresh", "max-stale"]
)
def test_other_invalid_numbers_are_ignored(directive: str) -> None:
    cc = CacheControl.parse([f"{directive}=soon"])
    assert cc == CacheControl()


def test_huge_delta_seconds_are_capped() -> None:
    assert CacheControl.parse(["max-age=99999999999999999999"]).max_age == 2**31


def test_bare_max_stale_accepts_any_staleness() -> None:
    assert CacheControl.parse(["max-stale"]).max_stale == math.inf
    assert CacheControl.parse(["max-stale=5"]).max_stale == 5


def test_junk_is_skipped() -> None:
    cc = CacheControl.parse([', ,, =5, x-unknown="y", public,, "', "max-age=1 junk"])
    assert cc.public
    assert cc.max_age == 0  # "1 junk" is not a number


def test_of_reads_every_cache_control_line() -> None:
    cc = CacheControl.of(headers(("Cache-Control", "public"), ("cache-control", "max-age=9")))
    assert cc.public
    assert cc.max_age == 9


@given(st.lists(st.text()))
def test_parsing_never_fails(values: list[str]) -> None:
    assert isinstance(CacheControl.parse(values), CacheControl)


# -- storable -----------------------------------------------------------------------------------


def test_fresh_get_200_is_storable() -> None:
    assert is_storable(headers(("Cache-Control", "max-age=60")))


def test_read_only_proxy_of_headers_is_accepted() -> None:
    response = CIMultiDictProxy(headers(("Cache-Control", "max-age=60")))
    assert storable("GET", 200, CIMultiDictProxy(headers()), response, session_cookies=False)


@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT", "get"])
def test_only_get_is_stored(method: str) -> None:
    assert not is_storable(headers(("Cache-Control", "max-age=60")), method=method)


@pytest.mark.parametrize("status", [100, 206, 304, 418, 999])
def test_partial_bodiless_and_unknown_statuses_are_not_stored(status: int) -> None:
    assert not is_storable(headers(("Cache-Control", "public, max-age=60")), status=status)


@pytest.mark.parametrize("status", [200, 203, 301, 302, 307, 308, 404, 410, 503])
def test_understood_statuses_with_explicit_freshness_are_stored(status: int) -> None:
    assert is_storable(headers(("Cache-Control", "max-age=60")), status=status)


@pytest.mark.parametrize(
    "cache_control",
    ["no-store", "private", 'private="Set-Cookie"', "no-transform", "max-age=60, NO-STORE"],
)
def test_response_directives_that_forbid_a_shared_rewritten_copy(cache_control: str) -> None:
    response = headers(("Cache-Control", "public, max-age=60"), ("Cache-Control", cache_control))
    assert not is_storable(response)


def test_request_no_store_forbids_storing() -> None:
    request = headers(("Cache-Control", "no-store"))
    assert not is_storable(headers(("Cache-Control", "max-age=60")), request=request)


@pytest.mark.parametrize("vary", ["*", "Accept-Language, *", " * "])
def test_vary_star_is_never_stored(vary: str) -> None:
    assert not is_storable(headers(("Cache-Control", "max-age=60"), ("Vary", vary)))


def test_vary_on_named_fields_is_stored() -> None:
    assert is_storable(headers(("Cache-Control", "max-age=60"), ("Vary", "Accept-Language")))


def test_set_cookie_is_never_stored_even_when_public() -> None:
    response = headers(("Cache-Control", "public, s-maxage=60"), ("Set-Cookie", "sid=1"))
    assert not is_storable(response)


@pytest.mark.parametrize(
    ("method", "status", "request_fields", "response_fields", "cookies", "reason"),
    [
        ("HEAD", 200, [], [("Cache-Control", "max-age=60")], False, "method"),
        ("GET", 206, [], [("Cache-Control", "max-age=60")], False, "status"),
        ("GET", 200, [("Cache-Control", "no-store")], [], False, "no-store"),
        ("GET", 200, [], [("Cache-Control", "no-transform, max-age=9")], False, "no-transform"),
        ("GET", 200, [], [("Cache-Control", "private")], False, "private"),
        ("GET", 200, [], [("Cache-Control", "max-age=9"), ("Vary", "*")], False, "vary-star"),
        (
            "GET",
            200,
            [],
            [("Cache-Control", "max-age=9"), ("Set-Cookie", "a=1")],
            False,
            "set-cookie",
        ),
        (
            "GET",
            200,
            [("Authorization", "Basic dTpw")],
            [("Cache-Control", "max-age=9")],
            False,
            "authorization",
        ),
        ("GET", 200, [], [("Cache-Control", "max-age=9")], True, "cookie"),
        ("GET", 200, [], [], False, "no-freshness"),
        ("GET", 200, [], [("Cache-Control", "public, max-age=9")], True, None),
    ],
)
def test_what_keeps_a_page_out_is_named_for_the_metrics(
    method: str,
    status: int,
    request_fields: list[tuple[str, str]],
    response_fields: list[tuple[str, str]],
    cookies: bool,
    reason: str | None,
) -> None:
    request, response = headers(*request_fields), headers(*response_fields)
    why = not_stored_because(method, status, request, response, session_cookies=cookies)
    assert why == reason
    assert storable(method, status, request, response, session_cookies=cookies) is (why is None)


@pytest.mark.parametrize(
    ("cache_control", "expected"),
    [
        ("max-age=60", False),
        ("public, max-age=60", True),
        ("s-maxage=60", True),
        ("must-revalidate, max-age=60", True),
        ("proxy-revalidate, max-age=60", False),
    ],
)
def test_authorized_requests_need_explicit_permission(cache_control: str, expected: bool) -> None:
    request = headers(("Authorization", "Basic dTpw"))
    response = headers(("Cache-Control", cache_control))
    assert is_storable(response, request=request) is expected


@pytest.mark.parametrize(
    ("cache_control", "expected"),
    [
        ("max-age=60", False),
        ("s-maxage=60", False),
        ("must-revalidate, max-age=60", False),
        ("public, max-age=60", True),
    ],
)
def test_requests_with_session_cookies_need_public(cache_control: str, expected: bool) -> None:
    response = headers(("Cache-Control", cache_control))
    assert is_storable(response, session_cookies=True) is expected


def test_public_does_not_override_private() -> None:
    assert not is_storable(headers(("Cache-Control", "public, private, max-age=60")))


@pytest.mark.parametrize(
    "response",
    [
        headers(("Expires", http_date(T0 + HOUR))),
        headers(("Expires", "0")),  # explicit, if already expired
        headers(("Cache-Control", "s-maxage=5")),
        headers(("Last-Modified", http_date(T0))),  # heuristic freshness
        headers(("ETag", '"v1"')),  # revalidation only
    ],
)
def test_storable_with_freshness_or_a_validator(response: CIMultiDict[str]) -> None:
    assert is_storable(response)


def test_without_freshness_or_validator_nothing_is_worth_storing() -> None:
    assert not is_storable(headers(("Content-Type", "text/html")))


def test_non_heuristic_status_needs_explicit_freshness_or_public() -> None:
    validated = headers(("Last-Modified", http_date(T0)), ("ETag", '"v1"'))
    assert not is_storable(validated, status=302)
    validated.add("Cache-Control", "public")
    assert is_storable(validated, status=302)


# -- freshness lifetime ---------------------------------------------------------------------------


def lifetime(*fields: tuple[str, str], now_date: float = T0) -> float:
    return freshness_lifetime(headers(*fields), now_date=now_date)


def test_s_maxage_wins_over_max_age_and_expires() -> None:
    assert (
        lifetime(
            ("Cache-Control", "max-age=60, s-maxage=600"),
            ("Date", http_date(T0)),
            ("Expires", http_date(T0 + DAY)),
        )
        == 600
    )


def test_max_age_wins_over_expires() -> None:
    cc = ("Cache-Control", "max-age=60")
    assert lifetime(cc, ("Date", http_date(T0)), ("Expires", http_date(T0 + DAY))) == 60


def test_invalid_max_age_is_stale_even_with_a_future_expires() -> None:
    cc = ("Cache-Control", "max-age=soon")
    assert lifetime(cc, ("Date", http_date(T0)), ("Expires", http_date(T0 + DAY))) == 0


def test_expires_counts_from_date() -> None:
    # The proxy's own clock is a day late; the upstream's Date is what Expires is relative to.
    date, expires = ("Date", http_date(T0)), ("Expires", http_date(T0 + HOUR))
    assert lifetime(date, expires, now_date=T0 + DAY) == HOUR


def test_expires_without_date_counts_from_arrival() -> None:
    assert lifetime(("Expires", http_date(T0 + HOUR)), now_date=T0 + 600) == HOUR - 600


@pytest.mark.parametrize(
    "expires",
    [
        "0",
        "-1",
        "never",
        "Mon, 32 Nov 1994 08:49:37 GMT",
        "Thu, 01 Jan 50 00:00:00 GMT",
        "Thu, 01 Jan 2050 00:00:00 PST",
        "Thu 01 Jan 2050 00:00:00 GMT",
        "Thu, 01-Jan-2050 00:00:00 GMT",
        "Thu, 01 Jan 2050 0.00.00 GMT",
        "Thu, 01 Jan 2050 00:00:00 +0000",
    ],
)
def test_invalid_expires_means_already_expired(expires: str) -> None:
    # RFC 9111 §5.3: an invalid date, however far in the future it looks, is in the past.
    assert lifetime(("Date", http_date(T0)), ("Expires", expires)) == 0


def test_expires_in_the_past_is_zero_not_negative() -> None:
    assert lifetime(("Date", http_date(T0)), ("Expires", http_date(T0 - HOUR))) == 0


def test_conflicting_expires_lines_mean_expired() -> None:
    fields = (("Expires", http_date(T0 + HOUR)), ("Expires", http_date(T0 + DAY)))
    assert lifetime(("Date", http_date(T0)), *fields) == 0


def test_heuristic_is_a_tenth_of_the_time_since_last_modified() -> None:
    modified = ("Last-Modified", http_date(T0 - 5 * HOUR))
    assert lifetime(("Date", http_date(T0)), modified) == pytest.approx(0.5 * HOUR)


def test_heuristic_is_capped() -> None:
    modified = ("Last-Modified", http_date(T0 - 365 * DAY))
    assert lifetime(("Date", http_date(T0)), modified) == HEURISTIC_MAX_LIFETIME


def test_heuristic_ignores_a_last_modified_in_the_future() -> None:
    assert lifetime(("Date", http_date(T0)), ("Last-Modified", http_date(T0 + HOUR))) == 0


def test_no_freshness_information_is_zero() -> None:
    assert lifetime(("Date", http_date(T0)), ("ETag", '"x"')) == 0


# -- age ------------------------------------------------------------------------------------------


def age_of(*fields: tuple[str, str], request_time: float, response_time: float) -> float:
    return initial_age(headers(*fields), request_time=request_time, response_time=response_time)


def test_apparent_age_wins_when_larger() -> None:
    # Sent at T0, asked for 1 s before arrival, arrived 7 s after its Date; Age says only 3.
    fields = ("Date", http_date(T0)), ("Age", "3")
    assert age_of(*fields, request_time=T0 + 6, response_time=T0 + 7) == 7


def test_corrected_age_adds_the_response_delay() -> None:
    # An upstream cache says 100 s; the trip took 2 s; Date is recent (upstream clock agrees).
    fields = ("Date", http_date(T0)), ("Age", "100")
    assert age_of(*fields, request_time=T0, response_time=T0 + 2) == 102


def test_date_ahead_of_our_clock_gives_no_negative_age() -> None:
    fields = ("Date", http_date(T0 + HOUR)), ("Age", "0")
    assert age_of(*fields, request_time=T0, response_time=T0 + 1) == 1


def test_missing_date_and_age_leave_only_the_delay() -> None:
    assert age_of(request_time=T0, response_time=T0 + 0.25) == 0.25


@pytest.mark.parametrize("age", ["soon", "-5", "1.5"])
def test_invalid_age_is_ignored(age: str) -> None:
    fields = ("Date", http_date(T0)), ("Age", age)
    assert age_of(*fields, request_time=T0, response_time=T0) == 0


def test_first_age_value_is_used() -> None:
    fields = ("Date", http_date(T0)), ("Age", "10, 20")
    assert age_of(*fields, request_time=T0, response_time=T0) == 10


@given(
    st.dictionaries(
        st.sampled_from(["Cache-Control", "Date", "Expires", "Last-Modified", "Age", "Vary"]),
        st.text(),
    )
)
def test_junk_headers_never_give_negative_times(fields: dict[str, str]) -> None:
    response = headers(*fields.items())
    f = Freshness.of(response, T0, T0 + 1)
    assert f.lifetime >= 0
    assert f.initial_age >= 1
    assert f.expires_at() >= T0 + 1 - f.initial_age
    assert isinstance(is_storable(response), bool)


# -- Freshness -------------------------------------------------------------------------------------


def freshness(cache_control: str, *extra: tuple[str, str], age: str = "0") -> Freshness:
    response = headers(("Cache-Control", cache_control), ("Date", http_date(T0)), ("Age", age))
    for name, value in extra:
        response.add(name, value)
    return Freshness.of(response, T0, T0)


def test_of_collects_the_facts() -> None:
    f = freshness(
        "max-age=60, stale-while-revalidate=30, stale-if-error=90", ("ETag", '"a"'), age="10"
    )
    assert f == Freshness(
        lifetime=60,
        initial_age=10,
        response_time=T0,
        swr=30,
        sie=90,
        must_revalidate=False,
        no_cache=False,
        has_validator=True,
    )


def test_age_grows_with_resident_time() -> None:
    f = freshness("max-age=60", age="10")
    assert f.age(T0) == 10
    assert f.age(T0 + 5) == 15
    assert f.age(T0 - 5) == 10  # a clock stepping back never makes it younger


def test_fresh_until_the_age_reaches_the_lifetime() -> None:
    f = freshness("max-age=60", age="10")
    assert f.is_fresh(T0 + 49.9)
    assert not f.is_fresh(T0 + 50)
    assert not f.needs_revalidation(T0 + 49.9)
    assert f.needs_revalidation(T0 + 50)


def test_no_cache_needs_revalidation_even_when_fresh() -> None:
    f = freshness("no-cache, max-age=600")
    assert f.is_fresh(T0 + 1)
    assert f.needs_revalidation(T0 + 1)


def test_stale_while_revalidate_window() -> None:
    f = freshness("max-age=60, stale-while-revalidate=30")
    assert f.may_serve_stale_while_revalidate(T0 + 30)  # still fresh
    assert f.may_serve_stale_while_revalidate(T0 + 89)
    assert not f.may_serve_stale_while_revalidate(T0 + 90)
    assert not f.may_serve_stale_if_error(T0 + 61)  # no stale-if-error given


def test_stale_if_error_window() -> None:
    f = freshness("max-age=60, stale-if-error=600")
    assert f.may_serve_stale_if_error(T0 + 659)
    assert not f.may_serve_stale_if_error(T0 + 660)
    assert not f.may_serve_stale_while_revalidate(T0 + 61)


@pytest.mark.parametrize(
    "cache_control",
    [
        "max-age=60, must-revalidate, stale-while-revalidate=30, stale-if-error=30",
        "max-age=60, proxy-revalidate, stale-while-revalidate=30, stale-if-error=30",
        "s-maxage=60, stale-while-revalidate=30, stale-if-error=30",
    ],
)
def test_revalidate_directives_forbid_stale_answers(cache_control: str) -> None:
    f = freshness(cache_control)
    assert f.must_revalidate
    assert f.may_serve_stale_if_error(T0 + 59)  # fresh is fresh
    assert not f.may_serve_stale_while_revalidate(T0 + 61)
    assert not f.may_serve_stale_if_error(T0 + 61)
    assert f.expires_at() == T0 + 60


def test_no_cache_forbids_unvalidated_answers() -> None:
    f = freshness("no-cache, max-age=60, stale-while-revalidate=30, stale-if-error=30")
    assert not f.may_serve_stale_while_revalidate(T0 + 1)
    assert not f.may_serve_stale_if_error(T0 + 1)
    assert f.expires_at() == T0


def test_expires_at_covers_the_widest_stale_window() -> None:
    f = freshness("max-age=60, stale-while-revalidate=30, stale-if-error=120", age="10")
    assert f.expires_at() == T0 - 10 + 60 + 120


def test_validator_keeps_an_entry_for_revalidation() -> None:
    f = freshness("max-age=60", ("Last-Modified", http_date(T0 - DAY)), age="10")
    assert f.keep_until() == T0 + 50 + KEEP_FOR_REVALIDATION
    assert freshness("max-age=60", age="10").keep_until() == T0 + 50


def test_no_cache_with_validator_is_kept_only_for_revalidation() -> None:
    f = freshness("no-cache", ("ETag", '"a"'))
    assert f.keep_until() == T0 + KEEP_FOR_REVALIDATION


def test_long_freshness_outlasts_the_revalidation_keep() -> None:
    f = freshness("max-age=31536000", ("ETag", '"a"'), age="0")
    assert f.keep_until() == T0 + 31_536_000 + KEEP_FOR_REVALIDATION


def test_heuristic_freshness_through_of() -> None:
    f = Freshness.of(
        headers(("Date", http_date(T0)), ("Last-Modified", http_date(T0 - 10 * HOUR))),
        T0,
        T0,
    )
    assert f.lifetime == pytest.approx(HOUR)
    assert f.has_validator


# -- Vary ------------------------------------------------------------------------------------------


def test_vary_key_lowercases_sorts_and_normalises() -> None:
    request = headers(("Accept-Language", "  fr-CH,   fr;q=0.9 "), ("X-Theme", "dark"))
    key = vary_key(["X-Theme ,accept-language"], request)
    assert key == (("accept-language", "fr-CH, fr;q=0.9"), ("x-theme", "dark"))


def test_equivalent_requests_share_a_key() -> None:
    vary = ["Accept-Language"]
    one_line = vary_key(vary, headers(("Accept-Language", "de,en")))
    two_lines = vary_key(vary, headers(("Accept-Language", "de"), ("accept-language", " en")))
    assert one_line == two_lines == (("accept-language", "de, en"),)


def test_different_values_make_different_keys() -> None:
    vary = ["Accept-Language"]
    assert vary_key(vary, headers(("Accept-Language", "de"))) != vary_key(
        vary, headers(("Accept-Language", "en"))
    )


def test_several_vary_lines_and_duplicates() -> None:
    request = headers(("A", "1"), ("B", "2"))
    assert vary_key(["a", "B, A", ""], request) == (("a", "1"), ("b", "2"))


def test_absent_field_reads_as_empty() -> None:
    assert vary_key(["Accept-Language"], headers()) == (("accept-language", ""),)


def test_accept_encoding_is_left_to_the_proxy() -> None:
    request = headers(("Accept-Encoding", "br"), ("Accept-Language", "en"))
    key = vary_key(["Accept-Encoding, Accept-Language"], request)
    assert key == (("accept-language", "en"),)


def test_cookie_stays_in_the_key() -> None:
    vary = ["Cookie"]
    alice = vary_key(vary, headers(("Cookie", "sid=alice")))
    bob = vary_key(vary, headers(("Cookie", "sid=bob")))
    assert alice == (("cookie", "sid=alice"),)
    assert alice != bob


@pytest.mark.parametrize("vary", [["*"], ["Accept-Language, *"], ["Accept", "*"]])
def test_vary_star_has_no_key(vary: list[str]) -> None:
    assert vary_key(vary, headers(("Accept", "text/html"))) is None


def test_no_vary_is_the_empty_key() -> None:
    assert vary_key([], headers(("Accept", "text/html"))) == ()


# -- invalidation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "status", "expected"),
    [
        ("POST", 200, True),
        ("PUT", 201, True),
        ("PATCH", 204, True),
        ("DELETE", 204, True),
        ("POST", 303, True),
        ("PURGE", 200, True),  # unknown methods are unsafe
        ("post", 200, True),
        ("POST", 400, False),
        ("POST", 500, False),
        ("POST", 100, False),
        ("GET", 200, False),
        ("HEAD", 200, False),
        ("OPTIONS", 200, False),
        ("TRACE", 200, False),
    ],
)
def test_invalidates(method: str, status: int, expected: bool) -> None:
    assert invalidates(method, status) is expected


def test_invalidated_urls_include_same_origin_locations() -> None:
    response = headers(("Location", "/news/42"), ("Content-Location", "https://site.test/news"))
    assert invalidated_urls("https://site.test/news/new", response) == [
        "https://site.test/news/new",
        "https://site.test/news/42",
        "https://site.test/news",
    ]


def test_invalidated_urls_never_reach_another_origin() -> None:
    response = headers(("Location", "https://other.test/x"), ("Content-Location", "//other.test/y"))
    assert invalidated_urls("https://site.test/form", response) == ["https://site.test/form"]


# -- validation -----------------------------------------------------------------------------------


def test_conditional_headers_from_both_validators() -> None:
    stored = headers(("ETag", ' W/"abc" '), ("Last-Modified", http_date(T0)))
    assert conditional_headers(stored) == {
        "If-None-Match": 'W/"abc"',
        "If-Modified-Since": http_date(T0),
    }


def test_conditional_headers_without_validators() -> None:
    assert conditional_headers(headers(("Cache-Control", "max-age=1"))) == {}
    assert conditional_headers(headers(("ETag", '"x"'))) == {"If-None-Match": '"x"'}


def test_merge_304_updates_stored_fields() -> None:
    stored = headers(
        ("Content-Type", "text/html"),
        ("Cache-Control", "max-age=60"),
        ("Cache-Control", "stale-if-error=60"),
        ("Date", http_date(T0)),
        ("ETag", '"v1"'),
        ("Content-Length", "1234"),
        ("Link", "</a.css>; rel=preload"),
        ("Link", "</b.css>; rel=preload"),
    )
    not_modified = headers(
        ("cache-control", "max-age=600"),
        ("Date", http_date(T0 + HOUR)),
        ("Content-Length", "0"),
        ("Content-Encoding", "gzip"),
        ("Transfer-Encoding", "chunked"),
        ("Set-Cookie", "sid=someone"),
        ("Connection", "X-Hop"),
        ("X-Hop", "1"),
        ("X-New", "yes"),
    )
    merged = merge_304(stored, not_modified)
    assert merged.getall("Cache-Control") == ["max-age=600"]
    assert merged.getall("Date") == [http_date(T0 + HOUR)]
    assert merged["X-New"] == "yes"
    assert merged["Content-Type"] == "text/html"
    assert merged["ETag"] == '"v1"'
    assert merged.getall("Link") == ["</a.css>; rel=preload", "</b.css>; rel=preload"]
    assert merged.getall("Content-Length") == ["1234"]
    for name in ("Content-Encoding", "Transfer-Encoding", "Set-Cookie", "Connection", "X-Hop"):
        assert name not in merged
    # The inputs are left alone.
    assert stored.getall("Cache-Control") == ["max-age=60", "stale-if-error=60"]


def test_merge_304_can_withdraw_permission_to_store() -> None:
    stored = headers(("Cache-Control", "max-age=60"), ("ETag", '"v1"'))
    merged = merge_304(stored, headers(("Cache-Control", "no-store")))
    assert not is_storable(merged)


# -- matching a browser's validators ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "etag", "expected"),
    [
        ('"a"', '"a"', True),
        ('W/"a"', '"a"', True),  # weak comparison
        ('"a"', 'W/"a"', True),
        ('"b", W/"a"', 'W/"a"', True),
        ('"x,y", "a"', '"a"', True),
        ('"x,y"', '"y"', False),  # a comma inside an opaque tag does not split the list
        ("*", 'W/"a"', True),
        ('"b"', 'W/"a"', False),
        ('"A"', '"a"', False),  # opaque tags are case-sensitive
        ("a", '"a"', False),  # unquoted junk never matches
        ("", '"a"', False),
        ('"a"', "a", False),
    ],
)
def test_if_none_match(header: str, etag: str, expected: bool) -> None:
    assert if_none_match_matches(header, etag) is expected
