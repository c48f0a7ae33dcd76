"""Responses to the browser, end to end: fields, cookies, codings, HEAD, Range, charsets, size.

Each test puts the real proxy in front of a real upstream on loopback; where exact bytes on
the wire matter, the upstream is a raw socket server that writes them verbatim.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import random
import sys
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import brotli
import pytest
import zstandard
from aiohttp import ClientSession, web
from bs4 import BeautifulSoup
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from proxy.rewriting import codings
from tests.conftest import ProxyFactory, Upstream, free_port, html_page

ROOT = Path(__file__).resolve().parent.parent
RawSite = Callable[[bytes], Awaitable[URL]]

COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}
TEXT = "Міністерство охорони здоров'я України повідомляє про зміни в роботі закладів."


@pytest.fixture
async def raw_site() -> AsyncIterator[RawSite]:
    """Upstreams that answer every request with the same bytes, written verbatim."""
    servers: list[asyncio.Server] = []

    async def start(answer: bytes) -> URL:
        async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(answer)
                await writer.drain()
            finally:
                writer.close()

        server = await asyncio.start_server(reply, "127.0.0.1", 0)
        servers.append(server)
        return URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


def soup(text: str | bytes) -> BeautifulSoup:
    return BeautifulSoup(text, "lxml")


def has_toolbar(body: bytes) -> bool:
    return soup(body).select_one("#a11y-proxy-toolbar") is not None


# -- fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/json"])
async def test_hop_by_hop_fields_of_the_upstream_stay_on_its_hop(
    raw_site: RawSite, start_proxy: ProxyFactory, content_type: str
) -> None:
    body = html_page().encode() if "html" in content_type else b"{}"
    origin = await raw_site(
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: " + content_type.encode() + b"\r\n"
        b"Connection: close, X-Internal\r\n"
        b"X-Internal: secret\r\n"
        b"Keep-Alive: timeout=99\r\n"
        b"Proxy-Connection: keep-alive\r\n"
        b'Proxy-Authenticate: Basic realm="inner"\r\n'
        b"Trailer: X-Checksum\r\n"
        b"Upgrade: h2c\r\n"
        b"X-Kept: yes\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    client = await start_proxy(origin)
    response = await client.get("/")
    assert response.status == 200
    names = {name.decode().lower() for name, _ in response.raw_headers}
    assert names.isdisjoint(
        {"x-internal", "keep-alive", "proxy-connection", "proxy-authenticate", "trailer", "upgrade"}
    )
    assert "x-internal" not in response.headers.get("Connection", "").lower()
    assert response.headers["X-Kept"] == "yes"


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/pdf"])
async def test_fields_naming_the_upstream_point_at_the_proxy_and_others_stay(
    upstream: Upstream, start_proxy: ProxyFactory, content_type: str
) -> None:
    body = html_page().encode() if "html" in content_type else b"%PDF-1.4"

    def answer(base: str | None) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            base_url = base or f"http://{request.host}"  # None: the upstream itself
            fields = CIMultiDict(
                [
                    ("Content-Type", content_type),
                    ("Location", f"{base_url}/new?a=1#top"),
                    ("Content-Location", f"{base_url}/doc"),
                    ("Refresh", f"5; url={base_url}/next"),
                    ("Link", f"<{base_url}/style.css>; rel=preload; as=style"),
                    ("Link", "<https://cdn.example.org/lib.js>; rel=preload; as=script"),
                ]
            )
            return web.Response(status=302, body=body, headers=fields)

        return handler

    upstream.route("/here", answer(None))
    upstream.route("/elsewhere", answer("https://gov.example.org"))
    client = await start_proxy(upstream)
    public = f"http://127.0.0.1:{client.port}"

    here = await client.get("/here", allow_redirects=False)
    assert here.status == 302
    assert here.headers["Location"] == f"{public}/new?a=1#top"
    assert here.headers["Content-Location"] == f"{public}/doc"
    assert here.headers["Refresh"] == f"5; url={public}/next"
    assert here.headers.getall("Link") == [
        f"<{public}/style.css>; rel=preload; as=style",
        "<https://cdn.example.org/lib.js>; rel=preload; as=script",
    ]

    elsewhere = await client.get("/elsewhere", allow_redirects=False)
    assert elsewhere.headers["Location"] == "https://gov.example.org/new?a=1#top"
    assert elsewhere.headers["Content-Location"] == "https://gov.example.org/doc"
    assert elsewhere.headers["Refresh"] == "5; url=https://gov.example.org/next"
    assert elsewhere.headers.getall("Link")[0] == (
        "<https://gov.example.org/style.css>; rel=preload; as=style"
    )


# Fields that describe the site's bytes (false once a page is rewritten), and fields that
# stay true of the page whatever the proxy does to its markup.
OF_THE_BYTES = {
    "Content-MD5": "Q2hlY2sgSW50ZWdyaXR5IQ==",
    "Digest": "sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=",
    "Content-Digest": "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
    "Repr-Digest": "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
    "Content-Range": "bytes 0-9/10",
    "Accept-Ranges": "bytes",
    "Last-Modified": "Sun, 06 Nov 1994 08:49:37 GMT",
    "ETag": '"site-1"',
}
OF_THE_PAGE = {
    "Cache-Control": "max-age=600",
    "Expires": "Thu, 01 Jan 2099 00:00:00 GMT",
    "Content-Language": "uk",
    "Content-Disposition": "inline",
    "X-Site": "kept",
}


async def test_a_rewritten_page_keeps_every_field_that_stays_true_and_only_those(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/p", html_page("<p>page</p>"), headers={**OF_THE_BYTES, **OF_THE_PAGE})
    client = await start_proxy(upstream)
    public = f"http://127.0.0.1:{client.port}"
    upstream.pages["/p"].headers["Content-Location"] = f"{upstream.url}/p.uk.html"
    get = await client.get("/p")
    head = await client.head("/p")
    not_modified = await client.get("/p", headers={"If-None-Match": get.headers["ETag"]})
    assert (get.status, head.status, not_modified.status) == (200, 200, 304)
    for response in (get, head, not_modified):
        assert response.headers.keys().isdisjoint(set(OF_THE_BYTES) - {"ETag"})
        assert {name: response.headers.get(name) for name in OF_THE_PAGE} == OF_THE_PAGE
        assert response.headers["Content-Location"] == f"{public}/p.uk.html"
        assert response.headers["ETag"] == get.headers["ETag"] != OF_THE_BYTES["ETag"]
        assert response.headers["Vary"] == "Accept-Encoding, Cookie"
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    # A 304 tells of the page the browser holds: no length or type of another body
    # (RFC 9110 §8.6, §15.4.5), which a cache would otherwise copy onto what it holds.
    for name in ("Content-Length", "Content-Type", "Content-Encoding"):
        assert name not in not_modified.headers


async def test_a_relayed_file_keeps_every_end_to_end_field(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    fields = {**OF_THE_BYTES, **OF_THE_PAGE}
    upstream.page("/f.pdf", b"%PDF-1.4 0", content_type="application/pdf", headers=fields)
    client = await start_proxy(upstream)
    response = await client.get("/f.pdf")
    assert response.status == 200 and await response.read() == b"%PDF-1.4 0"
    assert {name: response.headers.get(name) for name in fields} == fields


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/pdf"])
async def test_every_set_cookie_is_kept_for_the_public_host(
    upstream: Upstream, start_proxy: ProxyFactory, content_type: str
) -> None:
    body = html_page().encode() if "html" in content_type else b"%PDF-1.4"

    async def login(request: web.Request) -> web.Response:
        fields = CIMultiDict([("Content-Type", content_type)])
        fields.add("Set-Cookie", "sid=s3cr3t; Domain=127.0.0.1; Path=/cabinet; HttpOnly")
        fields.add(
            "Set-Cookie",
            "pref=big; domain=.127.0.0.1; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT",
        )
        fields.add("Set-Cookie", "plain=1")
        return web.Response(body=body, headers=fields)

    upstream.route("/login", login)
    client = await start_proxy(upstream)
    response = await client.get("/login")
    assert response.headers.getall("Set-Cookie") == [
        "sid=s3cr3t; Path=/cabinet; HttpOnly",
        "pref=big; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT",
        "plain=1",
    ]


# -- content codings ----------------------------------------------------------------------------


@pytest.mark.parametrize("browser", ["br", "zstd", "gzip", None])
@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
async def test_compressed_pages_are_rewritten_and_sent_in_the_browsers_coding(
    upstream: Upstream, start_proxy: ProxyFactory, coding: str, browser: str | None
) -> None:
    page = html_page(f"<p>{TEXT}</p>", lang="uk").encode()
    upstream.page(
        "/",
        COMPRESS[coding](page),
        headers={"Content-Encoding": coding, "Cache-Control": "max-age=60"},
    )
    client = await start_proxy(upstream)
    accept = {"Accept-Encoding": browser} if browser else {"Accept-Encoding": "identity"}
    for _ in range(2):  # a fresh rewrite, then the stored page
        response = await client.get("/", headers=accept, auto_decompress=False)
        raw = await response.read()
        assert response.headers.get("Content-Encoding") == browser
        assert response.headers["Content-Length"] == str(len(raw))
        assert "Accept-Encoding" in [v.strip() for v in response.headers["Vary"].split(",")]
        decoded = codings.decode(raw, browser)
        assert has_toolbar(decoded)
        assert TEXT in decoded.decode("utf-8")


async def test_non_html_is_relayed_in_its_own_coding_without_decoding(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    data = b'{"news": [' + b'{"id": 1}, ' * 500 + b"{}]}"
    packed = gzip.compress(data)
    upstream.page(
        "/api/news", packed, content_type="application/json", headers={"Content-Encoding": "gzip"}
    )
    client = await start_proxy(upstream)
    response = await client.get(
        "/api/news", headers={"Accept-Encoding": "gzip, br, compress"}, auto_decompress=False
    )
    assert await response.read() == packed
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Length"] == str(len(packed))
    # The upstream is offered only codings both the browser and the proxy understand.
    assert upstream.seen[0].headers["Accept-Encoding"] == "gzip, br"


@pytest.mark.parametrize("refusal", ["gzip;q=0", "gzip;q=0, identity", "*;q=0, identity"])
async def test_a_file_is_never_relayed_in_a_coding_the_browser_refused(
    upstream: Upstream, start_proxy: ProxyFactory, refusal: str
) -> None:
    data = b"%PDF-1.4 " + b"0" * 5000

    async def report(request: web.Request) -> web.Response:
        # Like many servers: gzip whenever the request mentions it at all.
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return web.Response(
                body=gzip.compress(data),
                headers={"Content-Type": "application/pdf", "Content-Encoding": "gzip"},
            )
        return web.Response(body=data, content_type="application/pdf")

    upstream.route("/report.pdf", report, "GET")
    client = await start_proxy(upstream)
    response = await client.get(
        "/report.pdf", headers={"Accept-Encoding": refusal}, auto_decompress=False
    )
    assert "Content-Encoding" not in response.headers
    assert await response.read() == data
    assert "gzip" not in upstream.seen[0].headers["Accept-Encoding"]


# -- HEAD and Range -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        pytest.param(
            "/page", "text/html; charset=utf-8", html_page("<p>Head</p>").encode(), id="page"
        ),
        pytest.param("/report.pdf", "application/pdf", b"%PDF-1.4 " + b"0" * 5000, id="file"),
    ],
)
@pytest.mark.parametrize("accept_encoding", ["gzip", "identity"])
async def test_head_gets_the_fields_a_get_would_and_no_body(
    upstream: Upstream,
    start_proxy: ProxyFactory,
    path: str,
    content_type: str,
    body: bytes,
    accept_encoding: str,
) -> None:
    upstream.page(path, body, content_type=content_type)
    client = await start_proxy(upstream)
    fields = {"Accept-Encoding": accept_encoding}
    get = await client.get(path, headers=fields, auto_decompress=False)
    got = await get.read()
    head = await client.head(path, headers=fields)
    assert head.status == get.status == 200
    assert await head.read() == b""
    assert head.headers["Content-Length"] == str(len(got))
    assert _message_fields(head.headers) == _message_fields(get.headers)


def _message_fields(headers: CIMultiDictProxy[str]) -> list[tuple[str, str]]:
    """The fields describing the response, without those that differ for every message."""
    per_message = {"date", "x-request-id"}
    return sorted((k.lower(), v) for k, v in headers.items() if k.lower() not in per_message)


@pytest.fixture
def files(upstream: Upstream, tmp_path: Path) -> Path:
    """A static-file upstream (it honours Range) serving whatever the test writes."""

    async def serve(request: web.Request) -> web.FileResponse:
        return web.FileResponse(tmp_path / request.match_info["name"])

    upstream.route("/files/{name}", serve, "GET")
    return tmp_path


async def test_range_on_a_page_gets_the_whole_rewritten_page(
    upstream: Upstream, start_proxy: ProxyFactory, files: Path
) -> None:
    (files / "page.html").write_text(html_page(f"<p>{TEXT}</p>"), encoding="utf-8")
    client = await start_proxy(upstream)
    for _ in range(2):  # not stored yet, then (perhaps) stored: a 200 either way
        response = await client.get("/files/page.html", headers={"Range": "bytes=0-9"})
        assert response.status == 200
        assert "Content-Range" not in response.headers
        body = await response.read()
        assert has_toolbar(body) and TEXT in body.decode()
    # The proxy asked again without Range rather than rewrite ten bytes of a page.
    assert "Range" not in upstream.seen[-1].headers


# What browsers send as Accept when they load a page and a stylesheet.
NAVIGATION = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
STYLESHEET = "text/css,*/*;q=0.1"


@pytest.mark.parametrize(
    ("name", "accept", "content"),
    [
        ("page.html", NAVIGATION, html_page(f"<p>{TEXT}</p>")),
        ("site.css", STYLESHEET, "p { font-size: 14px }\n" * 10),
    ],
    ids=["page", "stylesheet"],
)
async def test_a_range_request_for_a_page_goes_upstream_once(
    upstream: Upstream,
    start_proxy: ProxyFactory,
    files: Path,
    name: str,
    accept: str,
    content: str,
) -> None:
    (files / name).write_text(content, encoding="utf-8")
    client = await start_proxy(upstream, cache_bytes=0)  # each request is a miss
    for ask in ({"Range": "bytes=0-9"}, {"Range": "bytes=5-", "If-Range": '"any"'}):
        response = await client.get(f"/files/{name}", headers={"Accept": accept, **ask})
        assert response.status == 200 and "Content-Range" not in response.headers
        assert len(await response.read()) > 20  # the whole page, rewritten
    # Asked for whole at once: not a 206 first and the page after it.
    assert upstream.hits(f"/files/{name}") == 2
    for seen in upstream.seen:
        assert "Range" not in seen.headers and "If-Range" not in seen.headers


async def test_range_on_a_file_is_relayed_and_the_206_passes_through(
    upstream: Upstream, start_proxy: ProxyFactory, files: Path
) -> None:
    data = bytes(range(256)) * 40
    (files / "data.bin").write_bytes(data)
    client = await start_proxy(upstream)
    whole = await client.get("/files/data.bin")
    etag = whole.headers["ETag"]
    for headers in (
        {"Range": "bytes=100-199"},
        {"Range": "bytes=100-199", "If-Range": etag},
        {"Range": "bytes=100-199", "Accept": "video/webm,video/ogg,video/*;q=0.9,*/*;q=0.5"},
    ):
        response = await client.get("/files/data.bin", headers=headers)
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
        assert await response.read() == data[100:200]
    assert upstream.seen[-1].headers["Range"] == "bytes=100-199"


async def test_no_transform_pages_are_relayed_as_sent(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    page = html_page("<p>Signed</p>").encode()
    packed = gzip.compress(page)
    upstream.page(
        "/signed",
        packed,
        headers={"Content-Encoding": "gzip", "Cache-Control": "public, max-age=60, no-transform"},
    )
    client = await start_proxy(upstream)
    response = await client.get(
        "/signed", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
    )
    assert await response.read() == packed
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


# -- charsets -----------------------------------------------------------------------------------


def _page(meta: str) -> str:
    return html_page(f"<p>{TEXT}</p>" * 3, lang="uk").replace('<meta charset="utf-8">', meta)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(
            _page(
                '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
            ).encode("cp1251"),
            "text/html; charset=windows-1251",
            id="header-windows-1251",
        ),
        pytest.param(
            _page('<meta charset="koi8-u">').encode("koi8-u"), "text/html", id="meta-koi8-u"
        ),
        pytest.param(
            _page('<meta charset="utf-16">').encode("utf-16"), "text/html", id="bom-utf-16"
        ),
        pytest.param(
            b"\xef\xbb\xbf" + _page("").encode("utf-8"),
            "text/html; charset=windows-1251",
            id="bom-wins-over-header",
        ),
        pytest.param(_page("").encode("cp1251"), "text/html", id="undeclared-windows-1251"),
    ],
)
async def test_pages_in_any_charset_come_out_as_utf8_saying_so_everywhere(
    upstream: Upstream, start_proxy: ProxyFactory, body: bytes, content_type: str
) -> None:
    upstream.page("/", body, content_type=content_type)
    client = await start_proxy(upstream)
    response = await client.get("/")
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    raw = await response.read()
    text = raw.decode("utf-8")
    assert text.count(TEXT) == 3
    page = soup(raw)
    declared = [m["charset"] for m in page.select("meta[charset]")]
    declared += [
        m["content"]
        for m in page.find_all("meta")
        if str(m.get("http-equiv", "")).lower() == "content-type"
    ]
    assert declared and all("utf-8" in str(d).lower() for d in declared)


async def test_a_page_whose_charset_cannot_be_told_is_relayed_untouched(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    rng = random.Random(0)
    noise = bytes(rng.randrange(128, 256) for _ in range(4000))
    body = b"<!DOCTYPE html><html><head><title>?</title></head><body><p>" + noise + b"</p></body>"
    upstream.page("/", body, content_type="text/html")
    client = await start_proxy(upstream)
    response = await client.get("/")
    assert await response.read() == body
    assert response.headers["Content-Type"] == "text/html"


# -- size ---------------------------------------------------------------------------------------


async def test_html_over_the_limit_is_relayed_unrewritten_and_logged(
    upstream: Upstream, start_proxy: ProxyFactory, caplog: pytest.LogCaptureFixture
) -> None:
    big = html_page("<p>" + "Новини. " * 4000 + "</p>").encode()
    small = html_page("<p>Short</p>").encode()

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(big), 4096):
            await response.write(big[start : start + 4096])
        await response.write_eof()
        return response

    upstream.page("/big", big)
    upstream.page("/small", small)
    upstream.route("/big-chunked", chunked, "GET")
    client = await start_proxy(upstream, max_html_bytes=16 * 1024)
    caplog.set_level(logging.INFO, logger="proxy")
    for path in ("/big", "/big-chunked"):
        response = await client.get(path)
        assert await response.read() == big
    logged = [r.getMessage() for r in caplog.records if "--max-html-bytes" in r.getMessage()]
    assert len(logged) == 2 and "/big-chunked" in logged[1]
    assert has_toolbar(await (await client.get("/small")).read())


@pytest.mark.parametrize("processes", [0, 1])
@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "text/css"])
async def test_a_page_that_decodes_past_the_limit_is_relayed_as_the_site_sent_it(
    upstream: Upstream,
    start_proxy: ProxyFactory,
    caplog: pytest.LogCaptureFixture,
    processes: int,
    content_type: str,
) -> None:
    packed = gzip.compress(b" " * (4 << 20))  # 4 MiB decoded, a few KB sent
    upstream.page("/big", packed, content_type=content_type, headers={"Content-Encoding": "gzip"})
    client = await start_proxy(upstream, max_html_bytes=64 * 1024, rewrite_processes=processes)
    caplog.set_level(logging.INFO, logger="proxy")
    response = await client.get("/big", headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert response.status == 200 and response.headers["Content-Encoding"] == "gzip"
    assert await response.read() == packed
    assert "larger than --max-html-bytes once decoded" in caplog.text


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def _wait_listening(port: int, proc: asyncio.subprocess.Process) -> None:
    for _ in range(400):  # up to 20 s for a cold start
        assert proc.returncode is None, "the proxy exited"
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise AssertionError("the proxy did not start listening")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
async def test_a_200_mb_file_streams_through_in_bounded_memory(
    upstream: Upstream, record_property: Callable[[str, object], None]
) -> None:
    chunk = bytes(range(256)) * 4096  # 1 MiB
    total_mib = 200

    async def generate(request: web.Request) -> web.StreamResponse:
        count = int(request.query["mib"])
        response = web.StreamResponse(
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(count << 20)}
        )
        await response.prepare(request)
        for _ in range(count):
            await response.write(chunk)
        await response.write_eof()
        return response

    upstream.route("/big.bin", generate, "GET")
    port = free_port()
    async with (
        _proxy_process(await upstream.start(), port) as proc,
        ClientSession() as session,
    ):

        async def stream(mib: int) -> tuple[int, int]:
            """Bytes received and the highest RSS seen while receiving them."""
            received, peak = 0, 0
            url = f"http://127.0.0.1:{port}/big.bin?mib={mib}"
            async with session.get(url) as response:
                assert response.status == 200
                async for data in response.content.iter_chunked(1 << 20):
                    received += len(data)
                    if received % (8 << 20) < len(data):
                        peak = max(peak, _rss_kib(proc.pid))
            return received, peak

        await stream(8)  # warm up: imports, buffers, the connection pool
        before = _rss_kib(proc.pid)
        received, peak = await stream(total_mib)
        after = _rss_kib(proc.pid)
    assert received == total_mib << 20
    growth_kib = max(peak, after) - before
    record_property("rss_growth_kib", growth_kib)
    print(f"proxy RSS {before} KiB before, peak {peak} KiB, after {after} KiB")
    assert growth_kib < 8 * 1024, f"proxy RSS grew by {growth_kib} KiB"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
async def test_a_gzip_bomb_page_is_relayed_as_sent_without_being_decoded_whole(
    upstream: Upstream, record_property: Callable[[str, object], None]
) -> None:
    # 200 MiB of zeros in about 200 KB of gzip, packed a MiB at a time.
    packer = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    bomb = b"".join(packer.compress(bytes(1 << 20)) for _ in range(200)) + packer.flush()
    upstream.page("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    upstream.page(
        "/small",
        gzip.compress(html_page("<p>small</p>").encode()),
        headers={"Content-Encoding": "gzip"},
    )
    port = free_port()
    # The rewrite runs on a thread of the proxy process here, so whatever decoding costs
    # shows in the RSS measured.
    args = ("--max-html-bytes", "1M")
    async with (
        _proxy_process(await upstream.start(), port, *args) as proc,
        ClientSession(auto_decompress=False, headers={"Accept-Encoding": "gzip"}) as session,
    ):
        small = await session.get(f"http://127.0.0.1:{port}/small")  # warm up
        assert has_toolbar(gzip.decompress(await small.read()))
        before = _rss_kib(proc.pid)

        async def bomb_page() -> tuple[dict[str, str], bytes]:
            async with session.get(f"http://127.0.0.1:{port}/bomb") as response:
                return dict(response.headers), await response.read()

        # The RSS every 10 ms until the answer is in, or until it has grown past all reason.
        answer = asyncio.ensure_future(bomb_page())
        growth_kib = 0
        while growth_kib < 32 * 1024:
            done, _ = await asyncio.wait({answer}, timeout=0.01)
            growth_kib = max(growth_kib, _rss_kib(proc.pid) - before)
            if done:
                break
        record_property("rss_growth_kib", growth_kib)
        assert answer.done(), f"proxy RSS grew by {growth_kib} KiB before it answered"
        fields, body = answer.result()
    assert fields["Content-Encoding"] == "gzip" and body == bomb
    assert growth_kib < 32 * 1024, f"proxy RSS grew by {growth_kib} KiB"


@contextlib.asynccontextmanager
async def _proxy_process(
    origin: URL, port: int, *args: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m proxy`` in front of ``origin``: one worker, rewrites on a thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("A11Y_PROXY_")}
    argv = [sys.executable, "-m", "proxy", "--upstream", str(origin), "--port", str(port)]
    argv += ["--workers", "1", "--rewrite-processes", "0", "--log-level", "warning", *args]
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        await _wait_listening(port, proc)
        yield proc
    finally:
        proc.kill()  # a proxy stuck in a decode would not stop on SIGTERM in time
        await asyncio.wait_for(proc.wait(), timeout=10)
