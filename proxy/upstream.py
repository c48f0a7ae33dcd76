"""The one upstream site: its client session, the requests sent to it, and its failures.

The upstream URL is the configured origin plus the request's own path and query, taken from the
raw request target; nothing the client sends (Host, an absolute-form target, the path's shape)
can point a request at another host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from proxy.config import Settings
from proxy.connections import OneAnswerConnector
from proxy.errors import (
    ClientError,
    ProxyError,
    UpstreamBroken,
    UpstreamTimeout,
    UpstreamUnreachable,
)

_CHUNK: Final = 64 * 1024


def upstream_url(origin: URL, target: str) -> URL:
    """``origin`` + ``target`` (a raw path with query), refusing anything but origin-form."""
    if not target.startswith("/") or "\\" in target or "\0" in target:
        raise ClientError(400, "request target must be a path")
    # encoded=True: the path goes upstream exactly as the browser wrote it.
    url = URL(str(origin) + target, encoded=True)
    if url.origin() != origin:  # belt and braces: the join must not have changed the host
        raise ClientError(400, "request target leaves the site")
    return url


class RequestBody:
    """A browser's request body, streamed to the upstream as it arrives, up to ``limit`` bytes.

    A declared Content-Length over the limit is refused before the upstream is asked; a body of
    unknown length is counted on the way and the upstream request aborted when it passes the
    limit, so no upload is ever held in memory whole.
    """

    def __init__(self, stream: aiohttp.StreamReader, declared: int | None, limit: int) -> None:
        if declared is not None and declared > limit:
            raise ClientError(413, f"request body of {declared} bytes declared")
        self._stream = stream
        self._limit = limit
        self.too_large = False

    async def chunks(self) -> AsyncIterator[bytes]:
        size = 0
        async for chunk in self._stream.iter_any():
            size += len(chunk)
            if size > self._limit:
                # Raised inside the client session, which reports it as a broken connection;
                # the flag lets send() tell this apart from a real upstream failure.
                self.too_large = True
                raise ClientError(413, f"request body passed {self._limit} bytes")
            yield chunk


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
            # A connection that brings more than the answer to its request is closed, never
            # handed to the next request (another reader's).
            connector=OneAnswerConnector(limit=256, ttl_dns_cache=60),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(
        self,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: RequestBody | None = None,
    ) -> aiohttp.ClientResponse:
        """Send one request and return the open response; the caller releases it.

        Redirects are the browser's to follow. Connection failures and timeouts become the
        proxy's own errors.
        """
        assert self._session is not None, "Upstream.open() was not awaited"
        url = upstream_url(self.origin, target)
        try:
            return await self._session.request(
                method,
                url,
                headers=headers,
                data=body.chunks() if body is not None else None,
                allow_redirects=False,
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise failure(exc, body) from exc


def failure(exc: BaseException, body: RequestBody | None = None) -> ProxyError:
    """The proxy's error for a client-session exception met while talking to the upstream."""
    if body is not None and body.too_large:
        return ClientError(413, "request body larger than --max-body-bytes")
    if isinstance(exc, TimeoutError):  # aiohttp's connect and read timeouts are TimeoutErrors
        return UpstreamTimeout(str(exc))
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        return UpstreamBroken(str(exc))  # an answer that is not valid HTTP, or cut short
    return UpstreamUnreachable(str(exc))  # refused, reset, DNS, disconnected


async def read_limited(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """The body read up to ``limit`` bytes, and whether that was all of it.

    A body cut short, or one the upstream lied about, is UpstreamBroken; silence longer than
    the read timeout is UpstreamTimeout.
    """
    length = response.content_length
    if length is not None and length > limit:
        return b"", False
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.content.iter_chunked(_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks), False
    except TimeoutError as exc:
        raise UpstreamTimeout(str(exc)) from exc
    except aiohttp.ClientError as exc:
        raise UpstreamBroken(f"upstream broke off the body: {exc}") from exc
    return b"".join(chunks), True
