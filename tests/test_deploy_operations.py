"""Operating the proxy: health checks, Prometheus metrics scraped over HTTP, the access log."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from proxy.server.app import create_app
from proxy.server.config import Settings
from tests.conftest import ProxyFactory, Upstream, free_port, html_page
from tests.deploy import proxy_process, read

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_liveness_and_readiness_follow_the_upstream(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/", html_page())
    client = await start_proxy(upstream)
    live = await client.get("/_a11y/health/live")
    assert live.status == 200 and (await live.json())["status"] == "live"
    for _ in range(3):
        ready = await client.get("/_a11y/health/ready")
        assert ready.status == 200 and await ready.json() == {
            "status": "ready",
            "upstream": "HTTP 200",
        }
        assert ready.headers["Cache-Control"] == "no-store"
    # One check answers every probe within a few seconds.
    assert sum(1 for seen in upstream.seen if seen.method == "HEAD") == 1


async def test_readiness_fails_while_the_upstream_does_not_answer(
    start_proxy: ProxyFactory,
) -> None:
    client = await start_proxy(URL.build(scheme="http", host="127.0.0.1", port=free_port()))
    live = await client.get("/_a11y/health/live")
    assert live.status == 200
    ready = await client.get("/_a11y/health/ready")
    assert ready.status == 503
    assert await ready.json() == {"status": "not ready", "upstream": "UpstreamUnreachable"}


async def test_readiness_fails_when_the_upstream_answers_with_server_errors(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    async def down(request: web.Request) -> web.Response:
        return web.Response(status=503, text="maintenance")

    upstream.route("/", down)
    client = await start_proxy(upstream)
    ready = await client.get("/_a11y/health/ready")
    assert ready.status == 503 and (await ready.json())["upstream"] == "HTTP 503"


async def test_metrics_count_requests_by_status_and_mode_and_read_the_cache(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/", html_page("<p>Home</p>"), headers={"Cache-Control": "max-age=60"})
    upstream.page(
        "/big", html_page("<p>" + "x" * 40_000 + "</p>"), headers={"Cache-Control": "max-age=60"}
    )
    upstream.page(
        "/other", html_page("<p>" + "y" * 40_000 + "</p>"), headers={"Cache-Control": "max-age=60"}
    )
    # A small cache, so the second big page pushes the first one out.
    client = await start_proxy(upstream, cache_bytes=120_000, cache_entry_bytes=120_000)
    await client.get("/", cookies={"a11y_mode": "blue-150"})
    await client.get("/", cookies={"a11y_mode": "blue-150"})
    await client.get("/_a11y/view/bw-200/")
    await client.get("/missing")
    await client.get("/big")
    await client.get("/other")
    await client.get("/big")

    response = await client.get("/_a11y/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = parse_metrics(await response.text())
    requests = "a11y_proxy_requests_total"
    assert value(samples, requests, status="200", mode="blue-150") == 2
    assert value(samples, requests, status="200", mode="bw-200") == 1
    assert value(samples, requests, status="404", mode="default-100") == 1
    assert value(samples, requests, status="200", mode="default-100") == 3
    # Upstream asked for /, /missing, /big, /other and /big again; pages rewritten 4 times.
    assert value(samples, "a11y_proxy_upstream_response_seconds_count") == 5
    assert value(samples, "a11y_proxy_rewrite_seconds_count", kind="html") == 4
    assert value(samples, "a11y_proxy_cache_hits_total") == 2
    assert value(samples, "a11y_proxy_cache_misses_total") >= 4
    assert value(samples, "a11y_proxy_cache_evictions_total") >= 1
    assert 0 < value(samples, "a11y_proxy_cache_bytes") <= 120_000
    assert value(samples, "a11y_proxy_requests_in_flight") == 1  # this scrape


async def test_metrics_say_why_pages_bypass_the_cache(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/", html_page("<p>Home</p>"), headers={"Cache-Control": "max-age=60"})
    upstream.page("/mine", html_page("<p>Yours</p>"), headers={"Cache-Control": "private"})
    client = await start_proxy(upstream)
    await client.get("/")
    await client.get("/", headers={"Cookie": "_ga=GA1.2.3.4"})  # served from the cache
    await client.get("/", headers={"Cookie": "PHPSESSID=abc"})
    await client.get("/", headers={"Authorization": "Bearer t"})
    await client.get("/mine")
    samples = parse_metrics(await (await client.get("/_a11y/metrics")).text())
    personal = "a11y_proxy_cache_personal_requests_total"
    assert value(samples, personal, reason="cookie") == 1
    assert value(samples, personal, reason="authorization") == 1
    assert value(samples, "a11y_proxy_cache_pages_not_stored_total", reason="private") == 1
    assert [seen.path_qs for seen in upstream.seen] == ["/", "/", "/", "/mine"]


async def test_upstream_failures_are_counted_by_kind(start_proxy: ProxyFactory) -> None:
    client = await start_proxy(URL.build(scheme="http", host="127.0.0.1", port=free_port()))
    assert (await client.get("/")).status == 502
    samples = parse_metrics(await (await client.get("/_a11y/metrics")).text())
    assert value(samples, "a11y_proxy_upstream_errors_total", kind="unreachable") == 1
    assert value(samples, "a11y_proxy_requests_total", status="502", mode="default-100") == 1


async def test_request_ids_are_made_or_kept_when_safe(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/", html_page())
    client = await start_proxy(upstream)
    made = (await client.get("/")).headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert (await client.get("/", headers={"X-Request-Id": "edge-7f3a"})).headers[
        "X-Request-Id"
    ] == "edge-7f3a"
    forged = (await client.get("/", headers={"X-Request-Id": 'a b\tc"d'})).headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", forged)


_COMBINED = re.compile(
    r'^(?P<remote>\S+) - - \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<target>\S+) HTTP/1\.1" '
    r'(?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)" '
    r"(?P<id>\S+) (?P<seconds>\d+\.\d+)$"
)


async def test_access_log_in_combined_format_and_in_json(
    upstream: Upstream, tmp_path: Path
) -> None:
    origin = await upstream.start()
    upstream.page("/news/", html_page())
    for log_format in ("text", "json"):
        folder = tmp_path / log_format
        folder.mkdir()
        async with (
            proxy_process(folder, "--upstream", str(origin), "--log-format", log_format) as proxy,
            aiohttp.ClientSession() as session,
            session.get(
                f"{proxy.url}/news/?a=1",
                headers={"User-Agent": 'Reader "quoted"', "X-Request-Id": "front-1"},
            ) as response,
        ):
            assert response.status == 200
            length = response.content_length
        lines = proxy.log.read_text().splitlines()
        if log_format == "text":
            access = [m for m in map(_COMBINED.match, lines) if m and m["target"] == "/news/?a=1"]
            assert len(access) == 1
            line = access[0]
            assert (line["method"], line["status"], line["id"]) == ("GET", "200", "front-1")
            assert length is not None and int(line["bytes"]) == length
            assert line["agent"] == 'Reader \\"quoted\\"'
            assert float(line["seconds"]) >= 0
        else:
            # Every log line is one JSON object (the start-up banner goes to stdout).
            records = [json.loads(line) for line in lines if not line.startswith("a11y-proxy:")]
            entries = [r for r in records if r.get("target") == "/news/?a=1"]
            assert len(entries) == 1
            record = entries[0]
            assert record["logger"] == "a11y_proxy.access" and record["status"] == 200
            assert record["bytes"] == length and record["bytes_sent"] > length
            assert record["request_id"] == "front-1" and record["user_agent"] == 'Reader "quoted"'
            assert isinstance(record["seconds"], float)


async def test_log_level_warning_leaves_out_the_access_log(
    upstream: Upstream, tmp_path: Path
) -> None:
    origin = await upstream.start()
    upstream.page("/news/", html_page())
    async with (
        proxy_process(tmp_path, "--upstream", str(origin), "--log-level", "warning") as proxy,
        aiohttp.ClientSession() as session,
        session.get(f"{proxy.url}/news/") as response,
    ):
        assert response.status == 200
    assert '"GET /news/ HTTP/1.1"' not in read(proxy.log)


# -- who may read statistics and metrics ---------------------------------------------------------

OPERATOR_PAGES = ("/_a11y/stats", "/_a11y/metrics")
HEALTH_PAGES = ("/_a11y/health/live", "/_a11y/health/ready")


async def test_statistics_and_metrics_answer_loopback_by_default(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/", html_page())
    client = await start_proxy(upstream)
    for path in (*OPERATOR_PAGES, *HEALTH_PAGES):
        assert (await client.get(path)).status == 200, path


async def test_statistics_and_metrics_are_a_404_to_everyone_else_health_stays_open(
    upstream: Upstream, start_proxy: ProxyFactory
) -> None:
    upstream.page("/", html_page())
    client = await start_proxy(upstream, operator_addresses=(ipaddress.ip_network("10.0.0.0/8"),))
    unknown = await client.get("/_a11y/no-such-thing")
    for path in OPERATOR_PAGES:
        # A forged forwarding field from a peer that is not a trusted proxy changes nothing.
        response = await client.get(path, headers={"X-Forwarded-For": "10.1.2.3"})
        assert response.status == 404, path
        assert "a11y_proxy" not in await response.text() and "hits" not in await response.text()
        assert response.content_type == unknown.content_type  # as any unknown proxy path
    for path in HEALTH_PAGES:
        assert (await client.get(path)).status == 200, path


@pytest.mark.parametrize(
    ("forwarded_for", "status"),
    [
        (None, 200),  # the proxy's own machine asking directly (a local Prometheus)
        ("127.0.0.1", 200),  # through nginx, from nginx's own machine
        ("203.0.113.9", 404),  # through nginx, from a reader
        ("127.0.0.1, 203.0.113.9", 404),  # a reader who wrote a loopback address first
        ("not-an-address", 404),
    ],
)
async def test_behind_a_trusted_proxy_the_address_it_forwarded_for_decides(
    upstream: Upstream, start_proxy: ProxyFactory, forwarded_for: str | None, status: int
) -> None:
    upstream.page("/", html_page())
    client = await start_proxy(upstream, trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    fields = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    for path in OPERATOR_PAGES:
        assert (await client.get(path, headers=fields)).status == status, path


def _outside_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


async def test_by_default_a_peer_that_is_not_loopback_gets_404(upstream: Upstream) -> None:
    outside = _outside_address()
    if outside is None:
        pytest.skip("this machine has no address but loopback")
    upstream.page("/", html_page())
    origin = await upstream.start()
    port = free_port()
    settings = Settings(
        upstream=origin,
        public_url=URL.build(scheme="http", host=outside, port=port),
        host="0.0.0.0",  # noqa: S104
        port=port,
        rewrite_processes=0,
    )
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    try:
        await web.TCPSite(runner, outside, port).start()
        async with aiohttp.ClientSession() as session:
            for path in OPERATOR_PAGES:
                async with session.get(f"http://{outside}:{port}{path}") as response:
                    assert response.status == 404, path
            for path in HEALTH_PAGES:
                async with session.get(f"http://{outside}:{port}{path}") as response:
                    assert response.status == 200, path
    finally:
        await runner.cleanup()
