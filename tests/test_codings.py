"""Content codings (pure): what is offered upstream, what the browser gets."""

from __future__ import annotations

import pytest

from proxy import codings


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
