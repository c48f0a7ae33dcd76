"""Which text encoding an HTML body is in (pure).

The order is the browser's (HTML standard, "determining the character encoding"): a byte order
mark, then the charset of the Content-Type header, then a <meta> near the top of the document,
then detection. Labels are mapped the way browsers map them (latin1 means windows-1252, gb2312
means gb18030), so the proxy decodes what the browser would have shown.
"""

from __future__ import annotations

import codecs
import re
from typing import Final

from charset_normalizer import from_bytes

_BOMS: Final = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# WHATWG Encoding labels whose Python codec differs from the name.
_ALIASES: Final = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "l1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "windows-1252": "cp1252",
    "iso-8859-9": "cp1254",
    "latin5": "cp1254",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "chinese": "gb18030",
    "csgb2312": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
    "x-mac-cyrillic": "mac-cyrillic",
    "koi8-ru": "koi8-u",
    # A <meta> cannot honestly claim UTF-16 (the bytes that carried it were ASCII).
    "utf-16": "utf-8",
    "utf-16le": "utf-8",
    "utf-16be": "utf-8",
}
# How far into the document browsers look for <meta charset>; some CMSs put it late.
PRESCAN_BYTES: Final = 4096
_META: Final = re.compile(rb"<meta[^>]+?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.IGNORECASE)


def codec_for(label: str | None) -> str | None:
    """The Python codec for a charset label, or None when nobody knows the label."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def sniff(body: bytes, header_charset: str | None) -> tuple[str | None, int]:
    """The codec to decode ``body`` with and how many leading bytes (a BOM) to skip.

    ``(None, 0)`` means the encoding cannot be determined: relay the page untouched.
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return codec, len(bom)
    declared = codec_for(header_charset)
    if declared is not None:
        return declared, 0
    match = _META.search(body, 0, PRESCAN_BYTES)
    meta = codec_for(match.group(1).decode("ascii")) if match else None
    if meta is not None:
        return meta, 0
    return detect(body), 0


def detect(body: bytes) -> str | None:
    """Detection for pages that declare nothing: UTF-8 if it is valid, else a statistical guess."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    guess = from_bytes(body[:262144]).best()
    return codec_for(guess.encoding) if guess is not None else None


def decode(body: bytes, header_charset: str | None) -> str | None:
    """The page as text, or None when its encoding cannot be determined.

    Bytes invalid in the chosen encoding become U+FFFD, as they do in a browser.
    """
    codec, skip = sniff(body, header_charset)
    if codec is None:
        return None
    return body[skip:].decode(codec, errors="replace")


_CSS_CHARSET: Final = re.compile(rb'^@charset "([A-Za-z0-9._:-]+)";')


def decode_css(body: bytes, header_charset: str | None) -> str:
    """A stylesheet as text (CSS Syntax §3.2): BOM, header, @charset, else UTF-8."""
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(bom_codec, errors="replace")
    codec = codec_for(header_charset)
    if codec is None:
        match = _CSS_CHARSET.match(body)
        codec = codec_for(match.group(1).decode("ascii")) if match else None
    return body.decode(codec or "utf-8", errors="replace")
