"""The cache of rewritten pages through the real proxy, against an upstream that counts.

Time is a FakeClock handed to the proxy: freshness moves without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate

import pytest
from aiohttp import web

from tests.conftest import FakeClock, ProxyFactory, Upstream, html_page


@dataclass
class Resource:
    """An upstream page with a validator; it answers conditional requests with 304."""

    body: str = field(default_factory=lambda: html_page("<p>version one</p>"))
    etag: str = '"v1"'
    cache_control: str = "max-age=60"
    extra: dict[str, str] = field(default_factory=dict)
    full: int = 0
    not_modified: int = 0
    fail: bool = False
    #: Where the Date field comes from: a test's FakeClock, to keep it in step.
    date: Callable[[], float] = time.time

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail:
            return web.Response(status=503, text="down")
        headers = {
            "Cache-Control": self.cache_control,
            "ETag": self.etag,
            "Date": formatdate(self.date(), usegmt=True),
            **self.extra,
        }
        if request.headers.get("If-None-Match") == self.etag:
            self.not_modified += 1
            return web.Response(status=304, headers=headers)
        self.full += 1
        return web.Response(text=self.body, content_type="text/html", headers=headers)


async def test_fresh_pages_come_from_memory_with_age_then_revalidate_with_a_304(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    clock = FakeClock()
    page = Resource()
    upstream.route("/news", page.handle)
    client = await start_proxy(upstream, clock=clock)
    first = await client.get("/news")
    body = await first.read()
    clock.advance(30)
    second = await client.get("/news")
    assert await second.read() == body
    assert int(second.headers["Age"]) >= 30
    assert page.full == 1

    clock.advance(31)  # stale now: one conditional request, answered 304
    third = await client.get("/news")
    assert await third.read() == body
    assert page.full == 1 and page.not_modified == 1
    assert upstream.seen[-1].headers["If-None-Match"] == '"v1"'
    stats = await (await client.get("/_a11y/stats")).json()
    assert stats["revalidations"] == 1 and stats["hits"] >= 1 and stats["bytes_held"] > 0


async def test_a_changed_page_replaces_the_stored_one(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    clock = FakeClock()
    page = Resource()
    upstream.route("/", page.handle)
    client = await start_proxy(upstream, clock=clock)
    assert "version one" in await (await client.get("/")).text()
    page.body, page.etag = html_page("<p>version two</p>"), '"v2"'
    clock.advance(61)
    assert "version two" in await (await client.get("/")).text()
    assert "version two" in await (await client.get("/")).text()
    assert page.full == 2


async def test_s_maxage_wins_over_max_age_for_a_shared_cache(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    clock = FakeClock()
    page = Resource(cache_control="max-age=10, s-maxage=100")
    upstream.route("/", page.handle)
    client = await start_proxy(upstream, clock=clock)
    await client.get("/")
    clock.advance(50)
    await client.get("/")
    assert page.full + page.not_modified == 1


async def test_expires_and_heuristic_freshness(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    clock = FakeClock()
    expires = Resource(
        cache_control="", extra={"Expires": formatdate(clock.now + 100, usegmt=True)}
    )
    # Last modified 1000 s ago: a tenth of that, 100 s, of heuristic freshness.
    modified = Resource(
        cache_control="",
        etag='"m"',
        extra={"Last-Modified": formatdate(clock.now - 1000, usegmt=True)},
    )
    upstream.route("/expires", expires.handle)
    upstream.route("/modified", modified.handle)
    client = await start_proxy(upstream, clock=clock)
    for path in ("/expires", "/modified"):
        await client.get(path)
    clock.advance(80)
    for path in ("/expires", "/modified"):
        await client.get(path)
    assert (expires.full, expires.not_modified) == (1, 0)
    assert (modified.full, modified.not_modified) == (1, 0)
    clock.advance(40)
    for path in ("/expires", "/modified"):
        await client.get(path)
    assert expires.not_modified == 1 and modified.not_modified == 1


async def test_no_cache_revalidates_every_time(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    page = Resource(cache_control="no-cache")
    upstream.route("/", page.handle)
    client = await start_proxy(upstream)
    for _ in range(3):
        assert (await client.get("/")).status == 200
    assert page.full == 1 and page.not_modified == 2


async def test_stale_if_error_stands_in_for_a_failing_upstream_but_must_revalidate_does_not(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    clock = FakeClock()
    lenient = Resource(cache_control="max-age=10, stale-if-error=300")
    strict = Resource(cache_control="max-age=10, must-revalidate, stale-if-error=300")
    upstream.route("/lenient", lenient.handle)
    upstream.route("/strict", strict.handle)
    client = await start_proxy(upstream, clock=clock)
    await client.get("/lenient")
    await client.get("/strict")
    lenient.fail = strict.fail = True
    clock.advance(20)
    assert "version one" in await (await client.get("/lenient")).text()
    strict_answer = await client.get("/strict")
    assert strict_answer.status == 503  # the upstream's own answer, not the stale page
    assert "version one" not in await strict_answer.text()


async def test_stale_while_revalidate_answers_at_once_and_refreshes_behind(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    clock = FakeClock()
    page = Resource(cache_control="max-age=10, stale-while-revalidate=60")
    upstream.route("/", page.handle)
    client = await start_proxy(upstream, clock=clock)
    await client.get("/")
    page.body, page.etag = html_page("<p>version two</p>"), '"v2"'
    clock.advance(20)
    assert "version one" in await (await client.get("/")).text()  # stale, at once
    for _ in range(50):  # the refresh behind it
        if page.full == 2:
            break
        await asyncio.sleep(0.02)
    assert page.full == 2
    assert "version two" in await (await client.get("/")).text()


async def test_what_must_never_be_stored_is_not(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    cases = {
        "/no-store": Resource(cache_control="no-store"),
        "/private": Resource(cache_control="private, max-age=60"),
        "/vary-star": Resource(extra={"Vary": "*"}),
        "/set-cookie": Resource(extra={"Set-Cookie": "sid=1; Path=/"}),
    }
    for path, resource in cases.items():
        upstream.route(path, resource.handle)
    client = await start_proxy(upstream)
    for path in cases:
        await client.get(path)
        await client.get(path)
    for path, resource in cases.items():
        assert resource.full == 2, path


async def test_authorization_is_stored_only_when_the_response_allows_it(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    plain = Resource()
    public = Resource(cache_control="public, max-age=60")
    upstream.route("/plain", plain.handle)
    upstream.route("/public", public.handle)
    client = await start_proxy(upstream)
    auth = {"Authorization": "Basic dTpw"}
    for path in ("/plain", "/public"):
        await client.get(path, headers=auth)
        await client.get(path, headers=auth)
    assert plain.full == 2 and public.full == 1


async def test_two_sessions_never_see_each_others_page(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    async def personal(request: web.Request) -> web.Response:
        who = request.cookies.get("sid", "nobody")
        return web.Response(
            text=html_page(f"<p>Hello {who}</p>"),
            content_type="text/html",
            headers={"Cache-Control": "max-age=60"},
        )

    upstream.route("/me", personal)
    client = await start_proxy(upstream)
    alice = await (await client.get("/me", headers={"Cookie": "sid=alice"})).text()
    bob = await (await client.get("/me", headers={"Cookie": "sid=bob; a11y_mode=blue-150"})).text()
    anonymous = await (await client.get("/me")).text()
    assert "Hello alice" in alice and "Hello bob" in bob and "Hello nobody" in anonymous
    assert "alice" not in await (await client.get("/me")).text()


ANALYTICS = "_ga=GA1.2.123.456; _ym_uid=1675; OptanonConsent=groups%3DC0001"


async def test_analytics_and_consent_cookies_leave_a_public_page_to_the_cache(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    page = Resource(cache_control="max-age=300")
    upstream.route("/news", page.handle)
    client = await start_proxy(upstream)
    for visit in range(5):
        cookie = f"{ANALYTICS}.{visit}; a11y_mode=blue-150"
        answer = await client.get("/news", headers={"Cookie": cookie})
        assert answer.status == 200 and "version one" in await answer.text()
    assert page.full == 1
    # Every cookie but the proxy's own still reaches the site, unchanged.
    assert upstream.seen[0].headers["Cookie"] == f"{ANALYTICS}.0"
    # A session cookie beside them still gets a page of its own.
    await client.get("/news", headers={"Cookie": f"{ANALYTICS}; sid=alice"})
    assert page.full == 2
    stats = await (await client.get("/_a11y/stats")).json()
    assert stats["personal_requests"] == {"cookie": 1}
    assert stats["pages_not_stored"] == {"cookie": 1}


async def test_an_operator_names_the_session_cookies_or_more_cookies_to_ignore(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    page, other = Resource(), Resource()
    upstream.route("/", page.handle)
    upstream.route("/other", other.handle)
    only_sid = await start_proxy(upstream, session_cookies=("sid",))
    await only_sid.get("/", headers={"Cookie": "lang=uk; theme=dark"})
    await only_sid.get("/", headers={"Cookie": "lang=en"})
    assert page.full == 1
    await only_sid.get("/", headers={"Cookie": "lang=uk; sid=alice"})
    assert page.full == 2

    ignoring = await start_proxy(upstream, ignore_cookies=("lang",))
    await ignoring.get("/other", headers={"Cookie": "lang=uk"})
    await ignoring.get("/other", headers={"Cookie": "lang=en"})
    await ignoring.get("/other", headers={"Cookie": "lang=uk; theme=dark"})
    assert other.full == 2


async def test_what_the_site_says_of_cookies_keeps_its_meaning_with_ignored_cookies(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    """Vary: Cookie gives each cookie value its own page; Set-Cookie and private are never
    shared, whatever cookies the request carried."""

    async def by_cookie(request: web.Request) -> web.Response:
        return web.Response(
            text=html_page(f"<p>for {request.cookies.get('_ga', 'nobody')}</p>"),
            content_type="text/html",
            headers={"Cache-Control": "max-age=60", "Vary": "Cookie"},
        )

    upstream.route("/vary", by_cookie)
    cases = {
        "/private": Resource(cache_control="private, max-age=60"),
        "/set-cookie": Resource(extra={"Set-Cookie": "visit=1; Path=/elsewhere"}),
    }
    for path, resource in cases.items():
        upstream.route(path, resource.handle)
    client = await start_proxy(upstream)
    one = await (await client.get("/vary", headers={"Cookie": "_ga=one"})).text()
    two = await (await client.get("/vary", headers={"Cookie": "_ga=two"})).text()
    assert "for one" in one and "for two" in two
    assert "for one" in await (await client.get("/vary", headers={"Cookie": "_ga=one"})).text()
    for path, resource in cases.items():
        for _ in range(2):
            await client.get(path, headers={"Cookie": ANALYTICS})
        assert resource.full == 2, path
    stats = await (await client.get("/_a11y/stats")).json()
    assert stats["pages_not_stored"] == {"private": 2, "set-cookie": 2}
    assert stats["personal_requests"] == {}


async def test_the_debug_log_names_the_session_cookies_never_their_values(
    upstream: Upstream, start_proxy: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    upstream.route("/", Resource().handle)
    client = await start_proxy(upstream)
    with caplog.at_level(logging.DEBUG, logger="proxy.server.handlers"):
        await client.get("/", headers={"Cookie": "_ga=1; sid=s3cr3t; cart=k33p"})
    said = [r.getMessage() for r in caplog.records if "personal" in r.getMessage()]
    assert said == ["/ is personal: cookies sid, cart"]
    assert not any("s3cr3t" in r.getMessage() or "k33p" in r.getMessage() for r in caplog.records)


async def test_vary_puts_request_fields_into_the_key(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    async def negotiated(request: web.Request) -> web.Response:
        lang = request.headers.get("Accept-Language", "en")[:2]
        return web.Response(
            text=html_page(f"<p>lang {lang}</p>", lang=lang),
            content_type="text/html",
            headers={"Cache-Control": "max-age=60", "Vary": "Accept-Language"},
        )

    upstream.route("/", negotiated)
    client = await start_proxy(upstream)
    for _ in range(2):
        assert "lang uk" in await (await client.get("/", headers={"Accept-Language": "uk"})).text()
        assert "lang en" in await (await client.get("/", headers={"Accept-Language": "en"})).text()
    assert upstream.hits("/") == 2
    response = await client.get("/", headers={"Accept-Language": "uk"})
    assert "Accept-Language" in response.headers["Vary"]


async def test_a_successful_post_invalidates_the_stored_page(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    page = Resource()

    async def post(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=303, headers={"Location": "/comments"})

    upstream.route("/comments", page.handle, method="GET")
    upstream.route("/comments", post, method="POST")
    client = await start_proxy(upstream)
    await client.get("/comments")
    await client.get("/comments")
    assert page.full == 1
    response = await client.post("/comments", data={"text": "hi"}, allow_redirects=False)
    assert response.status == 303
    await client.get("/comments")
    assert page.full == 2


async def test_each_mode_has_its_own_validator(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.route("/", Resource().handle)
    client = await start_proxy(upstream)
    blue = await client.get("/", headers={"Cookie": "a11y_mode=blue-100"})
    etag = blue.headers["ETag"]
    assert etag.startswith('W/"') and "blue-100" in etag
    again = await client.get("/", headers={"Cookie": "a11y_mode=blue-100", "If-None-Match": etag})
    assert again.status == 304 and again.headers["ETag"] == etag
    # Same URL, other mode, the browser's old validator: the new mode's page, not a 304.
    switched = await client.get("/", headers={"Cookie": "a11y_mode=bw-150", "If-None-Match": etag})
    assert switched.status == 200 and switched.headers["ETag"] != etag
    assert "Last-Modified" not in switched.headers


async def test_what_downstream_caches_are_told(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.route("/", Resource(cache_control="public, max-age=60").handle)
    client = await start_proxy(upstream)
    plain = await client.get("/", headers={"Cookie": "a11y_mode=blue-100"})
    assert "Cookie" in plain.headers["Vary"]
    link = await client.get("/_a11y/view/blue-100/")
    assert "Cookie" not in link.headers["Vary"] and "Set-Cookie" not in link.headers
    assert link.headers["Cache-Control"] == "public, max-age=60"


async def test_the_cache_is_bounded_in_bytes(upstream: Upstream, start_proxy: ProxyFactory) -> None:
    filler = "<p>" + "x" * 20_000 + "</p>"
    resources = {f"/p{i}": Resource(body=html_page(filler)) for i in range(10)}
    for path, resource in resources.items():
        upstream.route(path, resource.handle)
    client = await start_proxy(upstream, cache_bytes=120_000, cache_entry_bytes=60_000)
    for path in resources:
        await client.get(path)
    stats = await (await client.get("/_a11y/stats")).json()
    assert stats["bytes_held"] <= 120_000
    assert stats["evictions"] > 0
    await client.get("/p0")  # evicted long ago: fetched again
    assert resources["/p0"].full == 2


async def test_a_burst_of_misses_makes_one_fetch_and_one_rewrite(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    calls = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return web.Response(
            text=html_page("<p>burst</p>"),
            content_type="text/html",
            headers={"Cache-Control": "max-age=60"},
        )

    upstream.route("/burst", slow)
    client = await start_proxy(upstream)
    responses = await asyncio.gather(*(client.get("/burst") for _ in range(100)))
    assert all(r.status == 200 for r in responses)
    assert calls == 1
    stats = await (await client.get("/_a11y/stats")).json()
    assert stats["stores"] == 1


async def test_a_failed_burst_reaches_every_waiter_and_is_not_cached(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    calls = 0

    async def broken(request: web.Request) -> web.StreamResponse:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.1)
        response = web.StreamResponse(
            headers={"Content-Type": "text/html", "Content-Length": "1000"}
        )
        await response.prepare(request)
        await response.write(b"<p>cut")
        assert request.transport is not None
        request.transport.close()
        return response

    upstream.route("/broken", broken)
    client = await start_proxy(upstream)
    responses = await asyncio.gather(*(client.get("/broken") for _ in range(20)))
    assert {r.status for r in responses} == {502}
    assert calls == 1
    await client.get("/broken")
    assert calls == 2


async def test_a_change_also_invalidates_where_its_answer_points(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    listing = Resource()

    async def create(request: web.Request) -> web.Response:
        return web.Response(status=201, headers={"Location": "/articles?page=1"})

    upstream.route("/articles", listing.handle, method="GET")
    upstream.route("/articles/new", create, method="POST")
    client = await start_proxy(upstream)
    await client.get("/articles?page=1")
    await client.get("/articles?page=1")
    assert listing.full == 1
    assert (await client.post("/articles/new", data=b"x")).status == 201
    await client.get("/articles?page=1")
    assert listing.full == 2


async def test_many_modes_of_a_big_page_drop_old_variants_not_the_parsed_page(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    from proxy.rewriting.modes import ALL_MODES

    page = Resource(body=html_page("<p>" + "words " * 4000 + "</p>"))  # about 24 KB
    upstream.route("/big", page.handle)
    # Room for the page and about three of its variants, not for all nine modes.
    client = await start_proxy(upstream, cache_bytes=1_000_000, cache_entry_bytes=110_000)
    for _ in range(2):
        for mode in ALL_MODES:
            response = await client.get(f"/_a11y/view/{mode.token}/big")
            assert response.status == 200
            assert f"/_a11y/keep/{mode.token}.css" in await response.text()
    assert page.full == 1  # parsed once, however many modes were asked for
    stats = await (await client.get("/_a11y/stats")).json()
    assert stats["stores"] == 1 and stats["bytes_held"] <= 110_000


@pytest.mark.parametrize("field", ["User-Agent", "Accept", "X-Reader"])
async def test_concurrent_misses_share_a_page_only_among_requests_it_varies_alike(
    upstream: Upstream, start_proxy: ProxyFactory, field: str
) -> None:
    asked: list[str] = []

    async def varied(request: web.Request) -> web.Response:
        value = request.headers.get(field, "")
        asked.append(value)
        await asyncio.sleep(0.3)  # slow, so every request below arrives while it is out
        return web.Response(
            text=html_page(f"<p>for {value}</p>"),
            content_type="text/html",
            headers={"Cache-Control": "max-age=60", "Vary": field},
        )

    upstream.route("/varied", varied)
    client = await start_proxy(upstream)
    values = ["alpha", "beta", "alpha", "beta", "alpha", "beta"]
    responses = await asyncio.gather(
        *(client.get("/varied", headers={field: value}) for value in values)
    )
    for value, response in zip(values, responses, strict=True):
        assert f"for {value}" in await response.text()
    assert sorted(asked) == ["alpha", "beta"]  # still one fetch for each kind of request


async def test_concurrent_misses_never_share_a_page_that_varies_on_everything(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    visits = 0

    async def personal(request: web.Request) -> web.Response:
        nonlocal visits
        visits += 1
        visit = visits
        await asyncio.sleep(0.3)
        return web.Response(
            text=html_page(f"<p>visit {visit}</p>"),
            content_type="text/html",
            headers={"Cache-Control": "max-age=60", "Vary": "*"},
        )

    upstream.route("/personal", personal)
    client = await start_proxy(upstream)
    responses = await asyncio.gather(*(client.get("/personal") for _ in range(4)))
    texts = {await response.text() for response in responses}
    assert len(texts) == 4 and visits == 4
