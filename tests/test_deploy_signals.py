"""Real signals to a real proxy process: SIGTERM drains, SIGHUP reloads the site tuning."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from bs4 import BeautifulSoup
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Upstream, html_page
from tests.deploy import BOUND, eventually, proxy_process


class Connection:
    """One HTTP/1.1 connection kept open across requests: it breaks if the server drops it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def get(self, target: str) -> tuple[int, bytes]:
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await self.writer.drain()
        status = await self.reader.readline()
        assert status.startswith(b"HTTP/1.1 "), f"connection lost: {status!r}"
        fields: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        assert "close" not in fields.get("connection", "").lower()
        body = await self.reader.readexactly(int(fields["content-length"]))
        return int(status.split()[1]), body

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:  # accepted by the kernel just before the socket closed
        return False
    writer.close()
    await writer.wait_closed()
    return False


def slow_page(upstream: Upstream, release: asyncio.Event) -> None:
    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text=html_page("<p>Slow news</p>"), content_type="text/html")

    upstream.route("/slow", slow)


async def test_sigterm_finishes_requests_in_flight_and_refuses_new_connections(
    upstream: Upstream, tmp_path: Path
) -> None:
    release = asyncio.Event()
    slow_page(upstream, release)
    origin = await upstream.start()
    async with (
        proxy_process(tmp_path, "--upstream", str(origin), "--shutdown-grace", "20") as proxy,
        aiohttp.ClientSession() as session,
    ):

        async def fetch() -> tuple[int, str]:
            async with session.get(f"{proxy.url}/slow") as response:
                return response.status, await response.text()

        in_flight = asyncio.create_task(fetch())
        await eventually(lambda: upstream.hits("/slow") == 1)
        proxy.signal(signal.SIGTERM)
        await eventually(lambda: refused(proxy.port))
        assert proxy.process.returncode is None  # still draining
        release.set()
        status, body = await in_flight
        assert status == 200 and "Slow news" in body and "a11y-proxy-toolbar" in body
        assert await asyncio.wait_for(proxy.process.wait(), BOUND) == 0


async def test_the_grace_time_bounds_the_drain(upstream: Upstream, tmp_path: Path) -> None:
    release = asyncio.Event()
    slow_page(upstream, release)
    origin = await upstream.start()
    try:
        async with (
            proxy_process(tmp_path, "--upstream", str(origin), "--shutdown-grace", "1") as proxy,
            aiohttp.ClientSession() as session,
        ):

            async def fetch() -> bytes:
                async with session.get(f"{proxy.url}/slow") as response:
                    return await response.read()

            in_flight = asyncio.create_task(fetch())
            await eventually(lambda: upstream.hits("/slow") == 1)
            proxy.signal(signal.SIGTERM)
            # The upstream never answers, yet the proxy stops: the request is cut off.
            assert await asyncio.wait_for(proxy.process.wait(), BOUND) == 0
            with pytest.raises(aiohttp.ClientError):
                await in_flight
    finally:
        release.set()


def reloads(metrics: bytes, result: str) -> float:
    for family in text_string_to_metric_families(metrics.decode()):
        for sample in family.samples:
            if sample.name == "a11y_proxy_tuning_reloads_total" and sample.labels == {
                "result": result
            }:
                return sample.value
    return 0.0


async def test_sighup_reloads_the_tuning_and_keeps_connections(
    upstream: Upstream, tmp_path: Path
) -> None:
    upstream.page("/", html_page('<p class="promo">Buy now</p><p>News</p>'))
    origin = await upstream.start()
    config = tmp_path / "a11y-proxy.toml"
    config.write_text('[tuning.css]\nreading = ".marker-one { color: red }"\n')
    async with proxy_process(tmp_path, "--upstream", str(origin), "--config", str(config)) as proxy:
        connection = await Connection.open(proxy.port)
        try:
            status, css = await connection.get("/_a11y/css/blue-150.css")
            assert status == 200 and b".marker-one" in css
            _, page = await connection.get("/_a11y/view/blue-150/")
            before = BeautifulSoup(page, "lxml")
            promo = before.select_one(".promo")
            assert promo is not None and not promo.has_attr("hidden")

            config.write_text(
                '[tuning]\nhide = [".promo"]\n[tuning.css]\nreading = ".marker-two { color: red }"\n'
            )
            proxy.signal(signal.SIGHUP)

            async def new_css() -> bool:
                return b".marker-two" in (await connection.get("/_a11y/css/blue-150.css"))[1]

            await eventually(new_css)
            _, page = await connection.get("/_a11y/view/blue-150/")
            after = BeautifulSoup(page, "lxml")
            promo = after.select_one(".promo")
            assert promo is not None and promo.has_attr("hidden")
            sheet = 'link[data-a11y-proxy="stylesheet"]'
            assert after.select_one(sheet)["href"] != before.select_one(sheet)["href"]  # type: ignore[index]
            assert reloads((await connection.get("/_a11y/metrics"))[1], "ok") == 1

            # A broken file changes nothing and says what is wrong.
            config.write_text('[tuning]\nhide = ["div["]\n')
            proxy.signal(signal.SIGHUP)

            async def refused_reload() -> bool:
                return reloads((await connection.get("/_a11y/metrics"))[1], "error") == 1

            await eventually(refused_reload)
            assert b".marker-two" in (await connection.get("/_a11y/css/blue-150.css"))[1]
            assert "tuning.hide = 'div['" in proxy.log.read_text()
            assert proxy.process.returncode is None
        finally:
            await connection.close()
