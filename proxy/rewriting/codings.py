"""Content codings: undoing the upstream's, choosing and applying the browser's (pure).

The proxy reads upstream bodies raw (the client session does not decompress), so non-HTML can be
relayed exactly as sent; only HTML it rewrites is decoded here, and re-encoded for the browser.
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from collections.abc import Callable
from typing import Final

import brotli
import zstandard

#: What the proxy can decode, so what it may offer the upstream in Accept-Encoding.
DECODABLE: Final = ("gzip", "deflate", "br", "zstd")
#: What the proxy produces for browsers, best first.
PREFERRED: Final = ("br", "zstd", "gzip")
# Brotli 5 and gzip 6 compress a page in a few ms; higher levels cost much more for little.
_BROTLI_QUALITY: Final = 5
_GZIP_LEVEL: Final = 6
_ZSTD_LEVEL: Final = 6
# Decoded bytes asked of a decoder at a time; the limit is checked after each piece.
_STEP: Final = 64 * 1024
_ZSTD_WINDOW: Final = 8 * 1024 * 1024


class CodingError(ValueError):
    """A body that does not decode with the coding its headers name."""


class TooLarge(Exception):
    """A body that decodes to more bytes than it may: a page too large to rewrite, or a bomb."""


class _Sink:
    """Decoded bytes, refused past ``limit`` as they come: a small body can decode to a huge
    one (1 MB of gzip to 1 GB), so the size is checked on every piece, never at the end."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._parts: list[bytes] = []

    def room(self) -> int:
        """How much to ask a decoder for next: a piece, or one byte past the limit."""
        return min(_STEP, self.limit - self.size + 1)

    def add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge(f"decodes to more than {self.limit} bytes")
        self._parts.append(data)

    def clear(self) -> None:
        self.size = 0
        self._parts.clear()

    def value(self) -> bytes:
        return b"".join(self._parts)


def _zlib_stream(data: bytes, wbits: int, sink: _Sink) -> bytes:
    """Decode one zlib, gzip or raw deflate stream at the start of ``data``; what follows it."""
    stream = zlib.decompressobj(wbits)
    pending = data
    while not stream.eof:
        room = sink.room()
        piece = stream.decompress(pending, room)
        sink.add(piece)
        pending = stream.unconsumed_tail
        if not pending and len(piece) < room:
            break  # the input is used up and nothing is held back
    if not stream.eof:
        raise CodingError("the stream is cut short")
    return stream.unused_data


def _gunzip(data: bytes, sink: _Sink) -> None:
    # A gzip body may be several members one after another (RFC 1952 §2.2), zero-padded.
    while data:
        data = _zlib_stream(data, 16 + zlib.MAX_WBITS, sink).lstrip(b"\0")


def _inflate(data: bytes, sink: _Sink) -> None:
    # "deflate" is meant to be zlib-wrapped, but servers also send raw deflate.
    try:
        _zlib_stream(data, zlib.MAX_WBITS, sink)
    except zlib.error:
        sink.clear()
        _zlib_stream(data, -zlib.MAX_WBITS, sink)


def _unbrotli(data: bytes, sink: _Sink) -> None:
    decoder = brotli.Decompressor()
    # The decoder keeps the input it has not used; later calls, with no input, go on with it.
    sink.add(decoder.process(data, output_buffer_limit=sink.room()))
    while not decoder.is_finished():
        piece = decoder.process(b"", output_buffer_limit=sink.room())
        if not piece and not decoder.is_finished():
            raise CodingError("the stream is cut short")  # it waits for input there is none of
        sink.add(piece)


def _unzstd(data: bytes, sink: _Sink) -> None:
    # RFC 9659: a zstd content coding uses a window of at most 8 MiB; a larger one only costs
    # the decoder memory. Every frame is read, not only the first.
    decoder = zstandard.ZstdDecompressor(max_window_size=_ZSTD_WINDOW)
    reader = decoder.stream_reader(io.BytesIO(data), read_across_frames=True)
    while piece := reader.read(sink.room()):
        sink.add(piece)


_DECODERS: Final[dict[str, Callable[[bytes, _Sink], None]]] = {
    "gzip": _gunzip,
    "x-gzip": _gunzip,
    "deflate": _inflate,
    "br": _unbrotli,
    "zstd": _unzstd,
    "identity": lambda data, sink: sink.add(data),
}
_ENCODERS: Final[dict[str, Callable[[bytes], bytes]]] = {
    "br": lambda data: brotli.compress(data, quality=_BROTLI_QUALITY),
    "gzip": lambda data: gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0),
    "zstd": lambda data: zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(data),
}


def codings(header: str | None) -> list[str]:
    """The codings of a Content-Encoding value, in the order they were applied."""
    if not header:
        return []
    return [part.strip().lower() for part in header.split(",") if part.strip()]


def can_decode(header: str | None) -> bool:
    return all(coding in _DECODERS for coding in codings(header))


def decode(body: bytes, header: str | None, limit: int | None = None) -> bytes:
    """Undo every coding in ``header`` (last applied, first undone).

    Past ``limit`` decoded bytes (at any layer) it stops and raises :class:`TooLarge`, having
    held no more than about ``limit`` bytes; a body that is not what its coding says is a
    :class:`CodingError`.
    """
    for coding in reversed(codings(header)):
        decoder = _DECODERS.get(coding)
        if decoder is None:
            raise CodingError(f"unknown content coding {coding!r}")
        sink = _Sink(sys.maxsize if limit is None else limit)
        try:
            decoder(body, sink)
        except (TooLarge, CodingError):
            raise
        except Exception as exc:  # each library raises its own error type
            raise CodingError(f"body is not valid {coding}") from exc
        body = sink.value()
    return body


def encode(body: bytes, coding: str) -> bytes:
    return _ENCODERS[coding](body)


def _weights(accept_encoding: str) -> dict[str, float]:
    """Coding -> q of an Accept-Encoding value (RFC 9110 §12.5.3); a bad q counts as 0."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        if not name:
            continue
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        weights[name.lower()] = weight
    return weights


def _accepted(weights: dict[str, float], coding: str) -> float:
    """The browser's q for ``coding``: its own, else the ``*`` one, else not accepted."""
    return weights.get(coding, weights.get("*", 0.0))


def negotiate(accept_encoding: str | None) -> str | None:
    """The best coding the browser accepts (RFC 9110 §12.5.3), or None for identity."""
    if not accept_encoding:
        return None
    weights = _weights(accept_encoding)
    best: tuple[float, str] | None = None
    for coding in PREFERRED:
        weight = _accepted(weights, coding)
        if weight > 0 and (best is None or weight > best[0]):
            best = (weight, coding)
    return best[1] if best else None


def offer_upstream(accept_encoding: str | None) -> str:
    """Accept-Encoding for the upstream: what both the browser and the proxy understand.

    Non-HTML is relayed still encoded, so the browser must accept it: a coding it refuses
    (``q=0``, or not named beside ``*;q=0``) is not offered. HTML is decoded here.
    """
    weights = _weights(accept_encoding or "")
    wanted = [coding for coding in DECODABLE if _accepted(weights, coding) > 0]
    return ", ".join(wanted) if wanted else "identity"
