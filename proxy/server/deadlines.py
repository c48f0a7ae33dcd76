"""Deadlines on browser connections: a request head must arrive in time, an idle one closes.

aiohttp closes a connection that waits for a request longer than its keep-alive timeout (the
proxy passes ``--keepalive-timeout``), but it has no deadline for the head of a request once
it has begun: a client sending a byte now and then keeps a connection, and a slot of the
server, for as long as it likes. As nginx's ``client_header_timeout`` does, each head here has
``--header-timeout`` seconds from its first byte to its end; then the connection is closed
without an answer. The body that follows is not the head: uploads may take longer.

aiohttp has no hook for this. Its connection handler is subclassed, and the runner builds the
server with that handler in place of its own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


class HeadDeadlineHandler(web.RequestHandler):
    """aiohttp's handler of one browser connection, with a deadline for each request head."""

    def __init__(self, manager: web.Server, *, header_timeout: float, **options: Any) -> None:
        super().__init__(manager, **options)
        self._header_timeout = header_timeout
        self._head_deadline: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if data and self._head_deadline is None and self._waiting_for_a_request():
            self._head_started()
        parsed = self._request_count  # one more for every head the parser completes
        super().data_received(data)
        if self._request_count != parsed:
            self._head_ended()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._head_ended()
        super().connection_lost(exc)

    def _waiting_for_a_request(self) -> bool:
        # The handler waits on this future between requests; a body comes while it is None.
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    def _head_started(self) -> None:
        # From its first byte the head has the head timeout, not the idle one, as in nginx:
        # keep_alive(True) stops aiohttp's idle timer and leaves the connection as it is. It
        # starts again once the answer is sent.
        self.keep_alive(True)
        loop = asyncio.get_running_loop()
        self._head_deadline = loop.call_later(self._header_timeout, self._head_too_slow)

    def _head_ended(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        log.debug("closing a connection: no whole request head in %ss", self._header_timeout)
        self.force_close()


class HeadDeadlineServer(web.Server):
    """The server aiohttp made for the application, its connections handled with deadlines."""

    def __init__(self, made: web.Server, header_timeout: float) -> None:
        super().__init__(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            **made._kwargs,
        )
        self._header_timeout = header_timeout

    def __call__(self) -> web.RequestHandler:
        return HeadDeadlineHandler(
            self, header_timeout=self._header_timeout, loop=self._loop, **self._kwargs
        )


class DeadlineRunner(web.AppRunner):
    """An application runner whose connections have a request-head deadline; other keyword
    arguments (``keepalive_timeout`` among them) are aiohttp's."""

    def __init__(self, app: web.Application, *, header_timeout: float, **options: Any) -> None:
        super().__init__(app, **options)
        self._header_timeout = header_timeout

    async def _make_server(self) -> web.Server:
        return HeadDeadlineServer(await super()._make_server(), self._header_timeout)
