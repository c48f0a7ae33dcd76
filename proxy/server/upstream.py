"""The one upstream site: its client sessions, the requests sent to it, and its failures.

The upstream URL is the configured origin plus the request's own path and query, taken from the
raw request target; nothing the client sends (Host, an absolute-form target, the path's shape)
can point a request at another host.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Final

import aiohttp
from aiohttp.client_middlewares import ClientHandlerType
from multidict import CIMultiDict
from yarl import URL

from proxy.server.config import Settings
from proxy.server.connections import OneAnswerConnector
from proxy.server.errors import (
    ClientError,
    ProxyError,
    UpstreamBroken,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from proxy.server.observe import Observer, Tally

log = logging.getLogger(__name__)

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


#: Methods whose request may be sent twice to the same effect (RFC 9110 §9.2.2): one lost on a
#: connection the upstream was closing may be sent again. TRACE never gets this far.
REPLAYABLE: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: How long a connection waits in the pool for the next request: less than the 5 s after which
#: Apache (KeepAliveTimeout) and Node (keepAliveTimeout) close theirs, so that usually the
#: proxy lets go first and few requests meet a connection the upstream is closing.
POOLED_IDLE: Final = 4.0
_CONNECTIONS: Final = 256


class Upstream:
    """Owns the client sessions for the proxy's lifetime (opened and closed by the app).

    A request is lost when it goes out on a kept-alive connection just as the upstream closes
    it for being idle: the upstream never reads it, and the proxy sees a reset or an end of
    stream instead of an answer. Which requests may meet that, and what then, is one rule:

    - a request that may be sent again (a method in :data:`REPLAYABLE`, no body) goes out on a
      pooled connection; if that connection was kept alive and fails before the answer's head,
      the request is sent once more, on a new connection;
    - every other one (a body of any size, or a method such as POST) goes out on a new
      connection of its own, which no idle timer can be closing, so its body is streamed once
      and never needs to be sent again (RFC 9110 §9.2.2: a proxy must not retry those).
    """

    def __init__(self, settings: Settings, observer: Observer | None = None) -> None:
        self.origin = settings.upstream
        self._observer: Observer = observer if observer is not None else Tally()
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.connect_timeout, sock_read=settings.read_timeout
        )
        self._pooled: aiohttp.ClientSession | None = None
        self._fresh: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        # A connection that brings more than the answer to its request is closed, never
        # handed to the next request (another reader's).
        self._pooled = self._session(
            OneAnswerConnector(limit=_CONNECTIONS, ttl_dns_cache=60, keepalive_timeout=POOLED_IDLE)
        )
        self._fresh = self._session(
            OneAnswerConnector(limit=_CONNECTIONS, ttl_dns_cache=60, force_close=True)
        )

    def _session(self, connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
        tracing = aiohttp.TraceConfig()
        tracing.on_connection_reuseconn.append(_reused)
        return aiohttp.ClientSession(
            timeout=self._timeout,
            # Bodies are relayed as the upstream encoded them; HTML is decoded by the proxy.
            auto_decompress=False,
            # Cookies belong to browsers, not to the proxy's session.
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            connector=connector,
            middlewares=(_no_blind_retry,),
            trace_configs=[tracing],
        )

    async def close(self) -> None:
        for session in (self._pooled, self._fresh):
            if session is not None:
                await session.close()

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
        started = time.perf_counter()
        try:
            response = await self._send(method, target, headers, body)
        except UpstreamError as exc:
            self._observer.upstream_failed(type(exc).__name__.removeprefix("Upstream").lower())
            raise
        self._observer.upstream_answered(time.perf_counter() - started)
        return response

    async def _send(
        self,
        method: str,
        target: str,
        headers: CIMultiDict[str],
        body: RequestBody | None,
    ) -> aiohttp.ClientResponse:
        assert self._pooled is not None, "Upstream.open() was not awaited"
        assert self._fresh is not None, "Upstream.open() was not awaited"
        url = upstream_url(self.origin, target)
        if body is None and method in REPLAYABLE:
            attempt = _Attempt()
            try:
                return await self._request(self._pooled, method, url, headers, trace=attempt)
            except _Lost as lost:
                if not attempt.reused:
                    raise failure(lost.cause) from lost.cause
                log.debug("%s %s met a closing connection: sent again", method, target[:200])
        try:
            return await self._request(self._fresh, method, url, headers, body)
        except _Lost as lost:
            raise failure(lost.cause, body) from lost.cause

    async def _request(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: URL,
        headers: CIMultiDict[str],
        body: RequestBody | None = None,
        trace: _Attempt | None = None,
    ) -> aiohttp.ClientResponse:
        """One attempt: the open response, :class:`_Lost`, or the proxy's error."""
        try:
            return await session.request(
                method,
                url,
                headers=headers,
                data=body.chunks() if body is not None else None,
                allow_redirects=False,
                trace_request_ctx=trace,
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise failure(exc, body) from exc


class _Attempt:
    """One request on the pooled session: whether it went out on a kept-alive connection."""

    reused = False


async def _reused(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceConnectionReuseconnParams,
) -> None:
    attempt = context.trace_request_ctx
    if isinstance(attempt, _Attempt):
        attempt.reused = True


class _Lost(Exception):
    """The connection failed before the answer's head came: the request may be unread."""

    def __init__(self, cause: aiohttp.ClientError) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def _no_blind_retry(
    request: aiohttp.ClientRequest, handler: ClientHandlerType
) -> aiohttp.ClientResponse:
    # aiohttp sends an idempotent request again when its connection fails, on whatever
    # connection the pool gives next (one the upstream may be closing too). Raised as _Lost,
    # which aiohttp does not catch, the failure comes to Upstream.send, which decides.
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # no connection was made: nothing was sent
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        raise _Lost(exc) from exc


def failure(exc: BaseException, body: RequestBody | None = None) -> ProxyError:
    """The proxy's error for a client-session exception met while talking to the upstream."""
    if body is not None and body.too_large:
        return ClientError(413, "request body larger than --max-body-bytes")
    if isinstance(exc, TimeoutError):  # aiohttp's connect and read timeouts are TimeoutErrors
        return UpstreamTimeout(str(exc))
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError):
        return UpstreamBroken(str(exc))  # an answer that is not valid HTTP, or cut short
    return UpstreamUnreachable(str(exc))  # refused, reset, DNS, disconnected


class Cut(enum.Enum):
    """Why a body was not read whole: it is to be relayed as it comes."""

    LARGE = "larger than --max-html-bytes"
    SLOW = "not whole within --page-timeout"


async def read_limited(
    response: aiohttp.ClientResponse, limit: int, seconds: float | None = None
) -> tuple[bytes, Cut | None]:
    """The body read up to ``limit`` bytes and for up to ``seconds``: what came, and why it
    is not all of it (None: it is).

    A body cut short, or one the upstream lied about, is UpstreamBroken; silence longer than
    the read timeout is UpstreamTimeout. A body that comes, but slowly, is not an error: it
    is cut at ``seconds`` (SLOW) for the rest to be relayed as it comes.
    """
    length = response.content_length
    if length is not None and length > limit:
        return b"", Cut.LARGE
    chunks: list[bytes] = []
    size = 0
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            async for chunk in response.content.iter_chunked(_CHUNK):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    return b"".join(chunks), Cut.LARGE
    except TimeoutError as exc:
        if deadline.expired():
            return b"".join(chunks), Cut.SLOW
        raise UpstreamTimeout(str(exc)) from exc
    except aiohttp.ClientError as exc:
        raise UpstreamBroken(f"upstream broke off the body: {exc}") from exc
    return b"".join(chunks), None
