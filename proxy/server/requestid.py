"""One id per request, to find a reader's request in the logs of every hop.

A front proxy's ``X-Request-Id`` is kept when it is a short, safe token (nginx's
``$request_id`` is); anything else is replaced by a fresh random id, so nothing a client sends
reaches a log line unchecked. The id goes back to the client as ``X-Request-Id``, into the
access log, and into every JSON log line written while the request is being answered.
"""

from __future__ import annotations

import random
import re
from contextvars import ContextVar
from typing import Final

from aiohttp import web
from aiohttp.typedefs import Handler

HEADER: Final = "X-Request-Id"
REQUEST_ID: Final = web.RequestKey("request_id", str)
#: The id of the request this task is answering, for log records made along the way.
current: ContextVar[str | None] = ContextVar("request_id", default=None)
_SAFE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def accept(value: str | None) -> str:
    """``value`` when it is a safe token, else a new id."""
    if value is not None and _SAFE.fullmatch(value):
        return value
    # 128 random bits as 32 hex digits. An id needs to be unique, not secret: the generator of
    # the random module (reseeded in every forked worker) costs no system call, which here
    # was a tenth of a cached page's time.
    return f"{random.getrandbits(128):032x}"


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request[REQUEST_ID] = accept(request.headers.get(HEADER))
    token = current.set(request_id)
    try:
        return await handler(request)
    finally:
        current.reset(token)


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    # Here rather than in the middleware: a streamed response has sent its headers by the
    # time the handler returns, and aiohttp makes the response to an unexpected error itself.
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers[HEADER] = request_id


def install(app: web.Application) -> None:
    """Ids for every request of ``app``: outermost middleware, header on every response."""
    app.middlewares.insert(0, middleware)
    app.on_response_prepare.append(_on_prepare)
