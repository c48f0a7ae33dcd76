"""Which text encoding an HTML body is in, decided as a browser decides it (pure).

The order is the HTML standard's ("determining the character encoding"): a byte order mark, then
the charset of the Content-Type header, then a ``<meta>`` found by the prescan, then detection.
Only the labels of the WHATWG Encoding Standard count, looked up by ``webencodings``; any other
label is ignored, exactly as a browser ignores it. Python's codec registry knows many decoders a
browser has never heard of (``utf-7``, ``unicode_escape``, EBCDIC, ``base64``...), and decoding
with one of them turns text a browser shows as inert, such as ``+ADw-script+AD4-``, into markup.

Two encodings are not decoded at all (``None``: the page is relayed as the site sent it): the
"replacement" encoding, which browsers decode to a single U+FFFD, and ISO-2022-JP, a stateful
encoding whose escape sequences Python's codec does not read exactly as browsers do.
"""

from __future__ import annotations

import re
from typing import Final

import webencodings
from charset_normalizer import from_bytes
from tinycss2.bytes import decode_stylesheet_bytes
from webencodings import Encoding

_BOMS: Final = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16be"),
    (b"\xff\xfe", "utf-16le"),
)
# Where the Encoding Standard's decoder is not the Python codec webencodings names.
_DECODERS: Final = {"gbk": "gb18030"}
# Python codec names the detector gives whose WHATWG label is another word.
_DETECTED: Final = {"mac_cyrillic": "x-mac-cyrillic", "cp932": "shift_jis", "cp949": "euc-kr"}
_NOT_DECODED: Final = frozenset({"replacement", "iso-2022-jp"})
#: The prescan reads at least this much; past it, it stops at the first tag a <head> cannot
#: hold, as Chromium does (the standard allows looking further than its 1024 bytes).
PRESCAN_BYTES: Final = 1024
#: How much of an undeclared page the detector reads.
DETECT_BYTES: Final = 256 * 1024


def encoding_for(label: str | None) -> Encoding | None:
    """The WHATWG encoding a label names, or None for anything else."""
    if not label:
        return None
    return webencodings.lookup(label)


def sniff(body: bytes, header_charset: str | None) -> tuple[Encoding | None, int]:
    """The encoding of ``body`` and how many leading bytes (a BOM) to skip.

    ``(None, 0)``: the encoding cannot be determined; relay the page as it came.
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return webencodings.lookup(name), len(bom)
    declared = encoding_for(header_charset) or prescan(body)
    if declared is not None:
        return declared, 0
    return detect(body), 0


def detect(body: bytes) -> Encoding | None:
    """For pages that declare nothing: UTF-8 if it is valid, else a statistical guess among
    the encodings browsers know (None when the guess is none of them)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return webencodings.UTF8
    guess = from_bytes(body[:DETECT_BYTES]).best()
    if guess is None:
        return None
    # The detector speaks Python's codec names: most are WHATWG labels once "_" is "-".
    name = guess.encoding.lower()
    return encoding_for(_DETECTED.get(name, name.replace("_", "-")))


def decode(body: bytes, header_charset: str | None) -> str | None:
    """The page as text, or None when it is not to be decoded (see the module's docstring).

    Bytes invalid in the chosen encoding become U+FFFD, as they do in a browser.
    """
    encoding, skip = sniff(body, header_charset)
    if encoding is None or encoding.name in _NOT_DECODED:
        return None
    codec = _DECODERS.get(encoding.name)
    if codec is not None:
        return body[skip:].decode(codec, errors="replace")
    text, _ = encoding.codec_info.decode(body[skip:], "replace")
    return str(text)


def decode_css(body: bytes, header_charset: str | None) -> str:
    """A stylesheet as text, as CSS Syntax §3.2 says: BOM, header, ``@charset``, else UTF-8."""
    text, _ = decode_stylesheet_bytes(body, protocol_encoding=header_charset)
    return str(text)


# --- the prescan: HTML standard §13.2.3.2, with Chromium's reading of raw text ---------------

_SPACE: Final = b"\t\n\x0c\r "
_TAG_NAME_END: Final = re.compile(rb"[\t\n\x0c\r >]")
_MARKUP: Final = re.compile(rb"<(?:!--|/?[A-Za-z]|[!/?])")
_META: Final = re.compile(rb"<meta[\t\n\x0c\r /]", re.IGNORECASE)
_NAME: Final = re.compile(rb"/?([A-Za-z][^\t\n\x0c\r />]*)")
# Elements whose content the tokenizer reads as text: a <meta> inside is not one (Chromium's
# prescan runs a real tokenizer; a charset in a script's string must not choose the decoder).
_RAW_TEXT: Final = frozenset(
    {b"script", b"style", b"title", b"textarea", b"xmp", b"iframe", b"noembed", b"noframes"}
    | {b"noscript", b"plaintext"}
)
# What a <head> may hold; past PRESCAN_BYTES any other tag (and </head>) ends the prescan.
_HEAD_TAGS: Final = frozenset(
    {b"script", b"noscript", b"style", b"link", b"meta", b"object", b"title", b"base"}
)


def prescan(body: bytes) -> Encoding | None:
    """The encoding a ``<meta>`` near the top declares, found as a browser finds it."""
    position = 0
    while (found := _MARKUP.search(body, position)) is not None:
        position = found.start()
        if body.startswith(b"<!--", position):
            # The first ">" after two dashes, which may be the dashes of "<!--" itself.
            close = body.find(b"-->", position + 2)
            if close < 0:
                return None
            position = close + 3
            continue
        if _META.match(body, position):
            position, encoding = _meta(body, position + 5)
            if encoding is not None:
                return encoding
            continue
        name = _NAME.match(body, position + 1)
        if name is None:  # "<!", "</" or "<?" not followed by a tag: up to the next ">"
            close = body.find(b">", position + 1)
            if close < 0:
                return None
            position = close + 1
            continue
        tag = name[1].lower()
        closing = body[position + 1 : position + 2] == b"/"
        if position >= PRESCAN_BYTES and tag not in _HEAD_TAGS and (closing or tag != b"head"):
            return None
        stop = _TAG_NAME_END.search(body, name.end())
        if stop is None:
            return None
        position = stop.start()
        while (attribute := _attribute(body, position)) is not None:
            position = attribute[2]
        position += 1
        if not closing and tag in _RAW_TEXT:
            position = _raw_text_end(body, position, tag)
    return None


def _raw_text_end(body: bytes, position: int, tag: bytes) -> int:
    pattern = re.compile(rb"</" + re.escape(tag) + rb"[\t\n\x0c\r />]", re.IGNORECASE)
    found = pattern.search(body, position)
    return len(body) if found is None else found.start()


def _meta(body: bytes, position: int) -> tuple[int, Encoding | None]:
    """Read one ``<meta>``'s attributes from ``position``; its encoding, if it declares one."""
    seen: set[bytes] = set()
    got_pragma = False
    need_pragma: bool | None = None
    encoding: Encoding | None = None
    while (attribute := _attribute(body, position)) is not None:
        name, value, position = attribute
        if name in seen:
            continue
        seen.add(name)
        if name == b"http-equiv":
            got_pragma = got_pragma or value == b"content-type"
        elif name == b"content":
            from_content = _charset_in_content(value)
            if from_content is not None and encoding is None:
                encoding, need_pragma = from_content, True
        elif name == b"charset":
            encoding, need_pragma = encoding_for(value.decode("latin-1")), False
    close = body.find(b">", position)
    if close < 0:
        return len(body), None  # cut off inside the tag
    position = close + 1
    if need_pragma is None or (need_pragma and not got_pragma) or encoding is None:
        return position, None
    if encoding.name in ("utf-16be", "utf-16le"):
        return position, webencodings.UTF8  # the bytes that said so were ASCII
    if encoding.name == "x-user-defined":
        return position, webencodings.lookup("windows-1252")
    return position, encoding


def _attribute(body: bytes, position: int) -> tuple[bytes, bytes, int] | None:
    """The standard's "get an attribute": (name, value, position after it), or None at ">"
    or at the end of the input. Names and values are lowercased, as the prescan compares."""
    end = len(body)
    while position < end and body[position] in b"\t\n\x0c\r /":
        position += 1
    if position >= end or body[position] == 0x3E:  # ">"
        return None
    name = bytearray()
    while True:
        if position >= end:
            return None
        byte = body[position]
        if byte == 0x3D and name:  # "="
            position += 1
            break
        if byte in _SPACE:
            while position < end and body[position] in _SPACE:
                position += 1
            if position >= end or body[position] != 0x3D:
                return bytes(name).lower(), b"", position
            position += 1
            break
        if byte in b"/>":
            return bytes(name).lower(), b"", position
        name.append(byte)
        position += 1
    while position < end and body[position] in _SPACE:
        position += 1
    if position >= end:
        return None
    quote = body[position]
    if quote in b"\"'":
        close = body.find(bytes([quote]), position + 1)
        if close < 0:
            return None
        return bytes(name).lower(), body[position + 1 : close].lower(), close + 1
    if quote == 0x3E:
        return bytes(name).lower(), b"", position
    value_end = _TAG_NAME_END.search(body, position)
    stop = end if value_end is None else value_end.start()
    return bytes(name).lower(), body[position:stop].lower(), stop


_CHARSET_IN_CONTENT: Final = re.compile(rb"charset[\t\n\x0c\r ]*=[\t\n\x0c\r ]*", re.IGNORECASE)


def _charset_in_content(content: bytes) -> Encoding | None:
    """The standard's "extracting a character encoding from a meta element"."""
    position = 0
    while (found := content.find(b"charset", position)) >= 0:
        match = _CHARSET_IN_CONTENT.match(content, found)
        if match is None:
            position = found + len(b"charset")
            continue
        rest = content[match.end() :]
        if not rest:
            return None
        if rest[:1] in (b'"', b"'"):
            close = rest.find(rest[:1], 1)
            return None if close < 0 else encoding_for(rest[1:close].decode("latin-1"))
        label = re.split(rb"[\t\n\x0c\r ;]", rest, maxsplit=1)[0]
        return encoding_for(label.decode("latin-1"))
    return None
