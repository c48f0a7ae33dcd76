"""The access log: one line per request, in the combined log format plus request id and time.

``203.0.113.7 - - [25/Nov/2025:10:00:00 +0200] "GET /news/ HTTP/1.1" 200 5120 "-" "Firefox"
3f2a9c... 0.0042``: the format nginx and Apache call "combined", then the request id and the
seconds taken, so the usual log tools read it. The same fields go to JSON log lines as
``access`` (see :mod:`proxy.server.logs`), with ``bytes_sent``, the header block included.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Final

from aiohttp import hdrs, web_request, web_response
from aiohttp.abc import AbstractAccessLogger

from proxy.server.requestid import REQUEST_ID

LOGGER: Final = logging.getLogger("a11y_proxy.access")
_ESCAPES: Final = {i: f"\\x{i:02x}" for i in range(32)} | {ord('"'): '\\"', ord("\\"): "\\\\"}


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access-log hook, writing :data:`LOGGER` records (``log_format`` is unused)."""

    def log(
        self,
        request: web_request.BaseRequest,
        response: web_response.StreamResponse,
        time: float,
    ) -> None:
        started = datetime.now().astimezone() - timedelta(seconds=time)
        sent = response.body_length  # aiohttp counts the header block in it
        if request.method == hdrs.METH_HEAD:
            body = 0
        else:
            body = response.content_length if response.content_length is not None else sent
        fields = {
            "remote": request.remote or "-",
            "method": request.method,
            "target": request.raw_path,
            "version": f"HTTP/{request.version.major}.{request.version.minor}",
            "status": response.status,
            "bytes": body,
            "bytes_sent": sent,
            "referer": request.headers.get(hdrs.REFERER, "-"),
            "user_agent": request.headers.get(hdrs.USER_AGENT, "-"),
            "request_id": request.get(REQUEST_ID, "-"),
            "seconds": round(time, 6),
        }
        line = (
            f"{fields['remote']} - - [{started:%d/%b/%Y:%H:%M:%S %z}] "
            f'"{_quote(request.method)} {_quote(request.raw_path)} {fields["version"]}" '
            f"{response.status} {body} "
            f'"{_quote(str(fields["referer"]))}" "{_quote(str(fields["user_agent"]))}" '
            f"{fields['request_id']} {time:.4f}"
        )
        self.logger.info(line, extra={"access": fields})

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def _quote(text: str) -> str:
    """No field can end the quotes or the line it is written in."""
    return text.translate(_ESCAPES)
