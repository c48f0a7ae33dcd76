"""Content codings (pure): what is offered upstream, what the browser gets."""

from __future__ import annotations

import gzip
import random
import tracemalloc
import zlib

import brotli
import pytest
import zstandard

from proxy.rewriting import codings


@pytest.mark.parametrize(
    ("browser", "offered"),
    [
        (None, "identity"),
        ("", "identity"),
        ("gzip, deflate, br, zstd", "gzip, deflate, br, zstd"),
        ("gzip, br, compress", "gzip, br"),
        ("gzip;q=0", "identity"),
        ("gzip;q=0, br", "br"),
        ("GZIP; Q=0.0, br;q=0.5", "br"),
        ("gzip;q=0.001", "gzip"),
        ("br;q=0, *", "gzip, deflate, zstd"),
        ("*", "gzip, deflate, br, zstd"),
        ("*;q=0", "identity"),
        ("*;q=0, gzip", "gzip"),
        ("gzip;q=0, *;q=0.5", "deflate, br, zstd"),
        ("identity", "identity"),
        ("identity, *;q=0", "identity"),
        ("gzip;q=nonsense", "identity"),
    ],
)
def test_the_upstream_is_offered_only_codings_the_browser_accepts(
    browser: str | None, offered: str
) -> None:
    assert codings.offer_upstream(browser) == offered


@pytest.mark.parametrize(
    ("browser", "chosen"),
    [
        (None, None),
        ("gzip, br", "br"),
        ("gzip;q=0, br;q=0", None),
        ("br;q=0.5, gzip", "gzip"),
        ("*", "br"),
        ("*;q=0, gzip", "gzip"),
        ("br;q=0, *", "zstd"),
    ],
)
def test_the_browser_gets_its_best_accepted_coding(browser: str | None, chosen: str | None) -> None:
    assert codings.negotiate(browser) == chosen


# -- decoding, bounded ---------------------------------------------------------------------------


def pack(coding: str, data: bytes) -> bytes:
    if coding == "gzip":
        return gzip.compress(data)
    if coding == "deflate":
        return zlib.compress(data)
    if coding == "raw-deflate":
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return packer.compress(data) + packer.flush()
    if coding == "br":
        return bytes(brotli.compress(data, quality=5))
    return zstandard.ZstdCompressor().compress(data)


CODED = ["gzip", "deflate", "raw-deflate", "br", "zstd"]


def header(coding: str) -> str:
    return "deflate" if coding == "raw-deflate" else coding


@pytest.mark.parametrize("coding", CODED)
def test_a_body_decodes_whole_up_to_its_limit(coding: str) -> None:
    data = random.Random(coding).randbytes(300_000) + bytes(700_000)
    packed = pack(coding, data)
    assert codings.decode(packed, header(coding)) == data
    assert codings.decode(packed, header(coding), limit=len(data)) == data
    with pytest.raises(codings.TooLarge):
        codings.decode(packed, header(coding), limit=len(data) - 1)


@pytest.mark.parametrize("coding", CODED)
def test_a_bomb_stops_at_the_limit_without_being_decoded_whole(coding: str) -> None:
    bomb = pack(coding, bytes(64 << 20))  # 64 MiB of zeros, well under 1 MiB packed
    tracemalloc.start()
    try:
        with pytest.raises(codings.TooLarge):
            codings.decode(bomb, header(coding), limit=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"decoding held {peak >> 20} MiB"


def test_every_layer_of_stacked_codings_is_bounded() -> None:
    bomb = gzip.compress(gzip.compress(bytes(64 << 20)))
    with pytest.raises(codings.TooLarge):
        codings.decode(bomb, "gzip, gzip", limit=1 << 20)
    assert codings.decode(bomb, "gzip, gzip") == bytes(64 << 20)


def test_several_gzip_members_and_zstd_frames_decode_as_one_body() -> None:
    assert codings.decode(gzip.compress(b"one ") + gzip.compress(b"two"), "gzip") == b"one two"
    frames = zstandard.ZstdCompressor().compress(b"one ") + pack("zstd", b"two")
    assert codings.decode(frames, "zstd") == b"one two"


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_a_cut_or_broken_body_is_a_coding_error(coding: str) -> None:
    packed = pack(coding, random.Random(1).randbytes(100_000))
    for broken in (packed[: len(packed) // 2], b"not " + packed):
        with pytest.raises(codings.CodingError):
            codings.decode(broken, coding, limit=1 << 20)


def test_an_empty_body_decodes_to_nothing() -> None:
    for coding in ("gzip", "identity"):
        assert codings.decode(b"", coding, limit=10) == b""
