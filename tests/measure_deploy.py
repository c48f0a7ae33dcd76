"""Requests per second for one mode link: from nginx's cache, and through the proxies.

Not a test: the numbers in docs/deploying.md come from here. Run from the repository root:

    python -m tests.measure_deploy [SECONDS]

It starts the bundled demo site, two proxy instances, and nginx rendered from
deploy/nginx-tls.conf, all on loopback, then runs wrk (Debian package wrk) three ways: through
nginx with its cache, through nginx with the cache off (both proxies answer every request), and
straight at one proxy.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
import tempfile
from pathlib import Path

from aiohttp import web

from proxy.demo.app import create_demo_app
from tests.conftest import free_port
from tests.deploy import Example, nginx, proxy_process, render_example, self_signed_certificate

HOST = "a11y.example.gov.ua"
TARGET = "/_a11y/view/blue-150/news/"


async def wrk(url: str, seconds: int, host: str) -> float:
    binary = shutil.which("wrk")
    assert binary is not None, "wrk is not installed (Debian package wrk)"
    process = await asyncio.create_subprocess_exec(
        binary,
        "-t2",
        "-c32",
        f"-d{seconds}s",
        "-H",
        f"Host: {host}",
        "-H",
        "Accept-Encoding: gzip",
        url,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    text = out.decode()
    match = re.search(r"Requests/sec:\s+([\d.]+)", text)
    assert match is not None, text
    if "Non-2xx" in text:
        raise AssertionError(text)
    return float(match.group(1))


async def measure(seconds: int) -> None:
    demo = web.AppRunner(create_demo_app(), access_log=None)
    await demo.setup()
    demo_port = free_port()
    await web.TCPSite(demo, "127.0.0.1", demo_port).start()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        http_port, https_port = free_port(), free_port()
        cert, key = self_signed_certificate(tmp, HOST)
        instances = (free_port(), free_port())
        public = f"https://{HOST}:{https_port}"
        example = Example(http_port, https_port, instances, cert, key, tmp / "cache")
        cached = render_example(example)
        uncached = cached.replace("proxy_cache a11y_proxy;", "proxy_cache off;")
        args = ("--upstream", f"http://127.0.0.1:{demo_port}", "--public-url", public)
        quiet = ("--log-level", "warning", "--rewrite-processes", "1")
        results: dict[str, float] = {}
        async with (
            proxy_process(tmp, *args, *quiet, port=instances[0]) as first,
            proxy_process(tmp, *args, *quiet, port=instances[1]),
        ):
            for name, config in (("nginx cache", cached), ("nginx, no cache", uncached)):
                async with nginx(tmp / name.replace(" ", "-"), config, (https_port,)):
                    url = f"https://127.0.0.1:{https_port}{TARGET}"
                    await wrk(url, 1, f"{HOST}:{https_port}")  # warm every cache
                    results[name] = await wrk(url, seconds, f"{HOST}:{https_port}")
            url = f"{first.url}{TARGET}"
            await wrk(url, 1, HOST)
            results["one proxy, direct"] = await wrk(url, seconds, HOST)
    await demo.cleanup()
    for name, rate in results.items():
        print(f"{name:20} {rate:10.0f} req/s")


if __name__ == "__main__":
    asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
