"""One cache for every worker of a host: two real proxies on one store directory, against an
upstream that counts, as two workers of ``--workers 2`` run."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Any

import diskcache
import pytest
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from proxy.cache.hoststore import ForeignRecord, HostStore, UnsafeDirectory
from proxy.cache.pages import Entry, decode, encode
from proxy.cache.policy import Freshness
from proxy.rewriting.rewrite import Page
from tests.conftest import FakeClock, ProxyFactory, Upstream, html_page
from tests.test_cache_e2e import Resource

PUBLIC = URL("http://a11y.example.test")


@pytest.fixture
def two_workers(start_proxy: ProxyFactory, tmp_path: Path) -> Any:
    """Start two proxies sharing a store in ``tmp_path``, as one host's two workers."""

    async def start(upstream: Upstream, **overrides: Any) -> list[Any]:
        shared = {
            "cache_url": f"file://{tmp_path}",
            "workers": 2,
            "public_url": PUBLIC,
            **overrides,
        }
        return [await start_proxy(upstream, **shared) for _ in range(2)]

    return start


async def stats(client: Any) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get("/_a11y/stats")).json()
    return body


async def test_a_page_is_fetched_and_rewritten_once_for_every_worker(
    upstream: Upstream, two_workers: Any
) -> None:
    pages = {path: Resource(body=html_page(f"<p>page {path}</p>")) for path in ("/a", "/b", "/c")}
    for path, resource in pages.items():
        upstream.route(path, resource.handle)
    first, second = await two_workers(upstream)
    for _ in range(5):
        for client in (first, second):
            for path in pages:
                answer = await client.get(path, headers={"Cookie": "a11y_mode=bw-200"})
                assert f"page {path}" in await answer.text()
    assert [resource.full for resource in pages.values()] == [1, 1, 1]
    metrics = await (await second.get("/_a11y/metrics")).text()
    assert "a11y_proxy_cache_store_loads_total 3.0" in metrics


async def test_an_invalidation_in_one_worker_is_seen_by_the_other_at_once(
    upstream: Upstream, two_workers: Any
) -> None:
    page = Resource(cache_control="max-age=600")

    async def change(request: web.Request) -> web.Response:
        page.body, page.etag = html_page("<p>version two</p>"), '"v2"'
        return web.Response(status=303, headers={"Location": "/news"})

    upstream.route("/news", page.handle, method="GET")
    upstream.route("/news", change, method="POST")
    first, second = await two_workers(upstream)
    assert "version one" in await (await first.get("/news")).text()
    assert "version one" in await (await second.get("/news")).text()
    assert page.full == 1
    posted = await first.post("/news", data={"comment": "hi"}, allow_redirects=False)
    assert posted.status == 303
    assert "version two" in await (await second.get("/news")).text()
    assert "version two" in await (await first.get("/news")).text()
    assert page.full == 2


async def test_a_new_version_found_by_one_worker_reaches_the_other(
    upstream: Upstream, two_workers: Any
) -> None:
    clock = FakeClock()
    page = Resource(cache_control="max-age=60", date=clock)
    upstream.route("/", page.handle)
    first, second = await two_workers(upstream, clock=clock)
    await first.get("/")
    await second.get("/")
    page.body, page.etag = html_page("<p>version two</p>"), '"v2"'
    clock.advance(61)
    assert "version two" in await (await first.get("/")).text()
    # The other worker's copy was stale too: it takes the new one rather than ask again.
    assert "version two" in await (await second.get("/")).text()
    assert (page.full, page.not_modified) == (2, 0)
    # A 304 found by one worker refreshes the other's copy as well.
    clock.advance(61)
    await first.get("/")
    assert "version two" in await (await second.get("/")).text()
    assert (page.full, page.not_modified) == (2, 1)


async def test_concurrent_misses_in_two_workers_wait_for_one_fetch(
    upstream: Upstream, two_workers: Any
) -> None:
    fetched = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal fetched
        fetched += 1
        await asyncio.sleep(0.4)
        return web.Response(
            text=html_page("<p>slow page</p>"),
            content_type="text/html",
            headers={"Cache-Control": "max-age=60"},
        )

    upstream.route("/slow", slow)
    first, second = await two_workers(upstream)
    answers = await asyncio.gather(
        *(client.get("/slow") for client in (first, second, first, second))
    )
    for answer in answers:
        assert "slow page" in await answer.text()
    assert fetched == 1


async def test_a_page_fetched_while_its_url_changed_is_not_kept(
    upstream: Upstream, two_workers: Any, start_proxy: ProxyFactory
) -> None:
    """A GET still on its way while a POST changes the page brings the old page: kept, it
    would be served after the invalidation that was meant to end it."""
    version = ["one"]
    full = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal full
        full += 1
        text = html_page(f"<p>version {version[0]}</p>")  # what the page was on arrival
        await asyncio.sleep(0.5)
        return web.Response(
            text=text, content_type="text/html", headers={"Cache-Control": "max-age=600"}
        )

    async def change(request: web.Request) -> web.Response:
        version[0] = "two"
        return web.Response(status=303, headers={"Location": "/news"})

    upstream.route("/news", slow, method="GET")
    upstream.route("/news", change, method="POST")
    single = await start_proxy(upstream)
    first, second = await two_workers(upstream)
    for reader, writer in ((single, single), (first, second)):
        version[0], full = "one", 0
        late = asyncio.ensure_future(reader.get("/news"))
        await asyncio.sleep(0.2)  # the GET is at the site
        posted = await writer.post("/news", data={"comment": "hi"}, allow_redirects=False)
        assert posted.status == 303
        assert "version one" in await (await late).text()  # it was asked before the change
        assert "version two" in await (await reader.get("/news")).text()
        assert "version two" in await (await writer.get("/news")).text()
        assert full in (2, 3)  # the old page was not stored; the new one is


async def test_workers_do_not_wait_in_turn_for_a_page_that_is_never_stored(
    upstream: Upstream, two_workers: Any
) -> None:
    """A claim makes the workers wait for one fetch; when that fetch stores nothing, the
    next concurrent misses go to the site together instead of one after another."""
    at_site = 0
    most = 0

    async def unstorable(request: web.Request) -> web.Response:
        nonlocal at_site, most
        at_site += 1
        most = max(most, at_site)
        await asyncio.sleep(0.3)
        at_site -= 1
        return web.Response(
            text=html_page("<p>live</p>"),
            content_type="text/html",
            headers={"Cache-Control": "no-store"},
        )

    upstream.route("/live", unstorable)
    first, second = await two_workers(upstream)
    await first.get("/live")
    assert most == 1
    answers = await asyncio.gather(first.get("/live"), second.get("/live"))
    for answer in answers:
        assert "live" in await answer.text()
    assert most == 2


async def test_a_page_only_one_reader_may_see_never_reaches_the_store(
    upstream: Upstream, two_workers: Any
) -> None:
    mine = Resource(extra={"Set-Cookie": "visit=1; Path=/elsewhere"})
    personal = Resource()
    upstream.route("/mine", mine.handle)
    upstream.route("/personal", personal.handle)
    first, second = await two_workers(upstream)
    for client in (first, second):
        await client.get("/mine")
        await client.get("/personal", headers={"Cookie": "sid=alice"})
    assert mine.full == 2 and personal.full == 2
    assert (await stats(second))["pages_not_stored"] == {"set-cookie": 1, "cookie": 1}


async def test_workers_with_another_tuning_never_take_each_others_pages(
    upstream: Upstream, two_workers: Any, start_proxy: ProxyFactory, tmp_path: Path
) -> None:
    page = Resource()
    upstream.route("/", page.handle)
    first, _ = await two_workers(upstream)
    await first.get("/")
    retuned = await start_proxy(
        upstream,
        cache_url=f"file://{tmp_path}",
        workers=2,
        public_url=PUBLIC,
        hidden_selectors=(".site-widget",),
    )
    await retuned.get("/")
    assert page.full == 2


def test_an_entry_crosses_the_store_whole_and_garbage_is_nothing() -> None:
    page = Page((b"<html><head>", b"</head><body>", b"</body></html>"), True, "uk", False, None)
    entry = Entry(
        page,
        200,
        CIMultiDict([("Vary", "Accept-Language"), ("ETag", '"x"')]),
        Freshness(lifetime=60, initial_age=1, response_time=1000, has_validator=True),
        stamp="s",
        generation="g",
    )
    again = decode(encode(entry))
    assert again is not None
    assert (again.page, again.status, again.freshness, again.stamp, again.generation) == (
        entry.page,
        entry.status,
        entry.freshness,
        "s",
        "g",
    )
    assert list(again.headers.items()) == list(entry.headers.items())
    blob = encode(entry)
    for bad in (b"", b"\x00\x00\x00\x05hello", blob[:-1], blob + b"x", b"\xff" * 40):
        assert decode(bad) is None


def test_the_store_directory_must_be_the_proxys_alone_and_holds_no_pickles(tmp_path: Path) -> None:
    open_to_all = tmp_path / "shared"
    open_to_all.mkdir(mode=0o755)
    open_to_all.chmod(0o755)
    with pytest.raises(UnsafeDirectory, match="chmod 700"):
        HostStore(open_to_all, 16 << 20)
    made = tmp_path / "made" / "here"
    HostStore(made, 16 << 20)
    assert stat.S_IMODE(made.stat().st_mode) == 0o700

    # Someone who could write the files would have to get past this too: a pickled record
    # (diskcache writes one for any object) is refused, never loaded.
    with diskcache.Cache(str(made / "marks")) as raw:
        raw.set("stamp", Exploit())
        raw.set(("pickled", "key"), "x")
    store = HostStore(made, 16 << 20)
    with pytest.raises(ForeignRecord):
        asyncio.run(store.marks("stamp", "generation"))
    assert Exploit.ran == 0


class Exploit:
    ran = 0

    def __reduce__(self) -> tuple[Any, ...]:
        return (Exploit.run, ())

    @staticmethod
    def run() -> None:
        Exploit.ran += 1
