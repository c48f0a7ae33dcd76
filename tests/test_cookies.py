"""Which cookies make a request personal: judged by name, never by value."""

from __future__ import annotations

import pytest

from proxy.cache.cookies import ANALYTICS_AND_CONSENT, SessionCookies, parse_names
from proxy.rewriting.modes import COOKIE_NAME

ANALYTICS = (
    "_ga=GA1.2.123.456; _ga_ABC123=GS1.1.1; _gid=GA1.2.9; _gat_UA-1=1; "
    "_ym_uid=1675; _ym_d=1675; _ym_isad=2; _fbp=fb.1.1; __utmz=1.2; "
    "OptanonConsent=isGpcEnabled=0; CookieConsent={stamp:'x'}; cookielawinfo-checkbox-analytics=yes"
)


def test_analytics_and_consent_cookies_and_the_mode_cookie_are_no_session() -> None:
    judge = SessionCookies()
    assert judge.names([ANALYTICS, f"{COOKIE_NAME}=bw-200"]) == []


def test_any_other_cookie_is_a_session_by_default_named_once() -> None:
    judge = SessionCookies()
    assert judge.names([f"_ga=1; sid=alice; {COOKIE_NAME}=blue-150", "sid=bob; lang=uk"]) == [
        "sid",
        "lang",
    ]
    # Names are compared as servers compare them: case and near misses count.
    assert judge.names(["_GA=1; ga=2; _gax=3"]) == ["_GA", "ga", "_gax"]


def test_an_operator_adds_names_to_ignore_or_names_the_sessions() -> None:
    ignoring = SessionCookies(ignored=("lang", "theme_*"))
    assert ignoring.names(["lang=uk; theme_dark=1; PHPSESSID=abc"]) == ["PHPSESSID"]
    only = SessionCookies(sessions=("PHPSESSID", "wordpress_logged_in_*"))
    assert only.names(["lang=uk; _ga=1; tracking=9"]) == []
    assert only.names(["lang=uk; wordpress_logged_in_5f=me"]) == ["wordpress_logged_in_5f"]


@pytest.mark.parametrize("header", ["", ";;", "=novalue", "   ", "; =x ;"])
def test_empty_and_nameless_parts_are_no_session(header: str) -> None:
    assert SessionCookies().names([header]) == []


def test_names_are_tokens_with_wildcards() -> None:
    assert parse_names(" PHPSESSID , wp_* ,, ") == ("PHPSESSID", "wp_*")
    assert parse_names("") == ()
    for bad in ("sid=1", "a b", "na;me", 'x"y'):
        with pytest.raises(ValueError, match="cookie names"):
            parse_names(bad)
    # The built-in list passes the same check an operator's list must.
    assert parse_names(",".join(ANALYTICS_AND_CONSENT)) == ANALYTICS_AND_CONSENT
