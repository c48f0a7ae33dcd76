"""Content codings: undoing the upstream's, choosing and applying the browser's (pure).

The proxy reads upstream bodies raw (the client session does not decompress), so non-HTML can be
relayed exactly as sent; only HTML it rewrites is decoded here, and re-encoded for the browser.
"""

from __future__ import annotations

import gzip
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


class CodingError(ValueError):
    """A body that does not decode with the coding its headers name."""


def _inflate(data: bytes) -> bytes:
    # "deflate" is meant to be zlib-wrapped, but servers also send raw deflate.
    try:
        return zlib.decompress(data)
    except zlib.error:
        return zlib.decompress(data, -zlib.MAX_WBITS)


def _unzstd(data: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


_DECODERS: Final[dict[str, Callable[[bytes], bytes]]] = {
    "gzip": gzip.decompress,
    "x-gzip": gzip.decompress,
    "deflate": _inflate,
    "br": brotli.decompress,
    "zstd": _unzstd,
    "identity": lambda data: data,
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


def decode(body: bytes, header: str | None) -> bytes:
    """Undo every coding in ``header`` (last applied, first undone)."""
    for coding in reversed(codings(header)):
        decoder = _DECODERS.get(coding)
        if decoder is None:
            raise CodingError(f"unknown content coding {coding!r}")
        try:
            body = decoder(body)
        except Exception as exc:  # each library raises its own error type
            raise CodingError(f"body is not valid {coding}") from exc
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
