"""The one upstream site: its client session, the requests sent to it, and its failures.

The upstream URL is the configured origin plus the request's own path and query, taken from the
raw request target; nothing the client sends (Host, an absolute-form target, the path's shape)
can point a request at another host.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from proxy.config import Settings
from proxy.errors import ClientError, UpstreamBroken, UpstreamTimeout, UpstreamUnreachable


def upstream_url(origin: URL, target: str) -> URL:
    """``origin`` + ``target`` (a raw path with query), refusing anything but origin-form."""
    if not target.startswith("/") or "\\" in target or "\0" in target:
        raise ClientError(400, "request target must be a path")
    # encoded=True: the path goes upstream exactly as the browser wrote it.
    url = URL(str(origin) + target, encoded=True)
    if url.origin() != origin:  # belt and braces: the join must not have changed the host
        raise ClientError(400, "request target leaves the site")
    return url


class Upstream:
    """Owns the client session for the proxy's lifetime (opened and closed by the app)."""

    def __init__(self, settings: Settings) -> None:
        self.origin = settings.upstream
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        )
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=self._timeout,
            # Bodies are relayed as the upstream encoded them; HTML is decoded by the proxy.
            auto_decompress=False,
            # Cookies belong to browsers, not to the proxy's session.
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            connector=aiohttp.TCPConnector(limit=256, ttl_dns_cache=60),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(
        self, method: str, target: str, headers: CIMultiDict[str], body: Any = None
    ) -> aiohttp.ClientResponse:
        """Send one request and return the open response; the caller releases it.

        Connection failures and timeouts become the proxy's own errors.
        """
        assert self._session is not None, "Upstream.open() was not awaited"
        url = upstream_url(self.origin, target)
        try:
            return await self._session.request(
                method, url, headers=headers, data=body, allow_redirects=False
            )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise UpstreamTimeout(str(exc)) from exc
        except aiohttp.ClientResponseError as exc:
            raise UpstreamBroken(str(exc)) from exc
        except aiohttp.ClientError as exc:  # refused, reset, DNS, disconnected
            raise UpstreamUnreachable(str(exc)) from exc
