"""Logging set-up: a level, and lines as text or as one JSON object each (``--log-format``).

Text lines are ``time LEVEL logger: message``; access lines are written bare, in their own
standard format. JSON lines carry ``time``, ``level``, ``logger``, ``message``, the
``request_id`` of the request being answered, the access fields, and a formatted exception.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Final

from proxy.server import requestid

FORMATS: Final = ("text", "json")
_TEXT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(_TEXT)

    def format(self, record: logging.LogRecord) -> str:
        if hasattr(record, "access"):
            return record.getMessage()
        return super().format(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            line.update(access)
        else:
            request_id = getattr(record, "request_id", None)
            if request_id is not None:
                line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def _with_request_id(record: logging.LogRecord) -> bool:
    if not hasattr(record, "request_id"):
        record.request_id = requestid.current.get()
    return True


def configure(level: str, log_format: str = "text") -> None:
    """Every log record to stderr, in ``log_format``, from ``level`` up."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_with_request_id)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def log_format(text: str) -> str:
    """The ``--log-format`` option."""
    if text not in FORMATS:
        raise ValueError("must be text or json")
    return text
