"""Upstream connections that carry only the answers asked for, or are not used again.

aiohttp's client puts a connection back in its pool as soon as a response's body has ended, and
the next request on it reads whatever the connection holds as its answer. Bytes past that end
(a second response written straight after the body, or anything sent while the connection
waits in the pool) would so become the answer to another reader's request, and be cached under
that reader's URL. Like nginx, the proxy closes such a connection instead: its protocol knows
when the final response to its request has ended, and treats any byte past it as a reason to
close.

aiohttp offers no public hook for this; the connector's protocol factory is replaced, and the
protocol overrides the points where a request starts (``set_response_params``) and bytes and
messages arrive (``data_received``, ``feed_data``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler
from aiohttp.http import RawResponseMessage
from aiohttp.streams import StreamReader

log = logging.getLogger(__name__)


class OneAnswerProtocol(ResponseHandler):
    """A client connection that is closed at the first byte its request did not ask for."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        #: A request is out and its final response has not ended yet.
        self._expecting = False
        #: The final (not 1xx) response to the request has arrived.
        self._answered = False
        #: A second final response arrived for the same request.
        self._stray = False

    def set_response_params(self, **params: Any) -> None:
        # The client session calls this for every request, before sending it.
        self._expecting = True
        self._answered = False
        super().set_response_params(**params)

    def data_received(self, data: bytes) -> None:
        if not self._expecting:
            if data:  # idle in the pool, or past the end of the answer: nobody asked
                self._refuse("data while no request was waiting")
            return
        super().data_received(data)
        if self._stray:
            self._refuse("a second response after the answer")
        elif not self._expecting and self._next_message_started():
            self._refuse("bytes after the end of the answer")

    def feed_data(self, data: tuple[RawResponseMessage, StreamReader], size: int = 0) -> None:
        message, payload = data
        if self._answered:
            self._stray = True  # dropped here, so no reader ever gets it
            return
        if not 100 <= message.code < 200 or message.code == 101:
            self._answered = True
            payload.on_eof(self._answer_ended)
        super().feed_data(data, size)

    def _answer_ended(self) -> None:
        self._expecting = False

    def _next_message_started(self) -> bool:
        """Whether the parser went on past the answer into the start of another message.

        A whole second message reaches :meth:`feed_data`; only its start stays inside the
        parser. ``feed_eof`` asks the parser what it would hand over if the connection ended
        now: nothing when it stopped cleanly at the end of the answer.
        """
        parser = self._parser
        if parser is None:
            return False
        try:
            return parser.feed_eof() is not None
        except Exception:  # a parser error means it held bytes too
            return True

    def _refuse(self, why: str) -> None:
        log.warning("closing an upstream connection: %s", why)
        self.force_close()
        self.close()


class OneAnswerConnector(aiohttp.TCPConnector):
    """A TCP connector whose connections are :class:`OneAnswerProtocol`."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        protocol: type[ResponseHandler] = OneAnswerProtocol
        self._factory = functools.partial(protocol, loop=self._loop)
