"""Upstream connections that carry only the answers asked for, or are not used again.

aiohttp's client puts a connection back in its pool as soon as a response's body has ended, and
the next request on it reads whatever the connection holds as its answer. Bytes past that end
(a second response written straight after the body, or anything sent while the connection
waits in the pool) would so become the answer to another reader's request, and be cached under
that reader's URL. Like nginx, the proxy closes such a connection instead: its protocol knows
when the final response to its request has ended, and treats any byte past it as a reason to
close.

Where the answer's head frames its body (a Content-Length, or no body at all: a 304, a 204,
the answer to HEAD), the protocol hands the parser the head, then exactly the body the head
declares, and nothing more. Bytes past that (a server that sends more than its Content-Length,
a 304 with the page after it) are dropped with the connection, and the reader gets the answer
as declared, as from nginx, with a warning in the log. Fed to the parser, they would be read as
the start of another response, fail to parse, and take the answer down with them: a 502.

aiohttp offers no public hook for this; the connector's protocol factory is replaced, and the
protocol overrides the points where a request starts (``set_response_params``) and bytes and
messages arrive (``data_received``, ``feed_data``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from typing import Any, Final

import aiohttp
from aiohttp import hdrs
from aiohttp.client_proto import ResponseHandler
from aiohttp.http import RawResponseMessage
from aiohttp.streams import EmptyStreamReader, StreamReader

log = logging.getLogger(__name__)


# The empty line that ends a head: the parser takes a bare LF for CRLF, as do browsers.
_BLANK_LINE: Final = re.compile(rb"\n\r?\n")
# What of a head to keep for finding a blank line split between two reads.
_HEAD_TAIL: Final = 2


class OneAnswerProtocol(ResponseHandler):
    """A client connection that is closed at the first byte its request did not ask for."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        #: A request is out and its final response has not ended yet.
        self._expecting = False
        #: The head of the final (not 1xx) response to the request has arrived.
        self._answered = False
        #: Body bytes that answer's head still declares; None: the parser frames it.
        self._left: int | None = None
        #: What to call bytes past the declared body, for the log.
        self._excess = ""
        #: The end of what was fed while in a head, to find a blank line across reads.
        self._head_tail = b""
        #: A second final response arrived for the same request.
        self._stray = False

    def set_response_params(self, **params: Any) -> None:
        # The client session calls this for every request, before sending it.
        self._expecting = True
        self._answered = False
        self._left = None
        self._head_tail = b""
        super().set_response_params(**params)

    def data_received(self, data: bytes) -> None:
        if not data:  # aiohttp's own call to go on parsing after a pause
            if self._expecting:
                super().data_received(data)
            return
        if not self._expecting:  # idle in the pool, or past the end of the answer: nobody asked
            self._refuse("data while no request was waiting")
            return
        while data and self._expecting:
            piece, data = self._next_piece(data)
            if not piece:
                break
            super().data_received(piece)
            if not self.is_connected():  # the parser failed and aiohttp closed it
                return
            if self._stray:
                self._refuse("a second response after the answer")
                return
        if data:
            self._refuse(self._excess)
        elif not self._expecting and self._next_message_started():
            self._refuse("bytes after the end of the answer")

    def _next_piece(self, data: bytes) -> tuple[bytes, bytes]:
        """What of ``data`` to parse now, and what is left: a head up to its end, so that the
        body's framing is known before a byte of the body is parsed; then the declared body."""
        if not self._answered:
            seen = self._head_tail + data
            blank = _BLANK_LINE.search(seen)
            if blank is None:
                self._head_tail = seen[-_HEAD_TAIL:]
                return data, b""
            self._head_tail = b""
            end = blank.end() - (len(seen) - len(data))
            return data[:end], data[end:]
        if self._left is None:
            return data, b""
        piece = data[: self._left]
        self._left -= len(piece)
        return piece, data[len(piece) :]

    def feed_data(self, data: tuple[RawResponseMessage, StreamReader], size: int = 0) -> None:
        message, payload = data
        if self._answered:
            self._stray = True  # dropped here, so no reader ever gets it
            return
        if not 100 <= message.code < 200 or message.code == 101:
            self._answered = True
            self._left, self._excess = self._framing(message, payload)
            payload.on_eof(self._answer_ended)
        super().feed_data(data, size)

    def _framing(
        self, message: RawResponseMessage, payload: StreamReader
    ) -> tuple[int | None, str]:
        """The body length the head declares, and what bytes past it are, for the log."""
        if isinstance(payload, EmptyStreamReader):
            if self._skip_payload:
                return 0, "a body after the answer to HEAD"
            return 0, f"a body after a {message.code}"
        length = message.headers.get(hdrs.CONTENT_LENGTH, "")
        if message.chunked or not length.isdigit() or not length.isascii():
            return None, ""
        return int(length), "more than its Content-Length"

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
