import codecs

import pytest

from proxy.rewriting.charset import decode, decode_css, encoding_for, prescan, sniff

UKRAINIAN = "Міністерство охорони здоров'я України: новини, ґанок, їжак, є"


def _name(body: bytes, header: str | None = None) -> str | None:
    encoding, _ = sniff(body, header)
    return None if encoding is None else encoding.name


def test_header_charset_wins_over_meta() -> None:
    body = b'<meta charset="utf-8">' + UKRAINIAN.encode("cp1251")
    assert decode(body, "windows-1251") == '<meta charset="utf-8">' + UKRAINIAN


def test_bom_wins_over_header_as_in_browsers() -> None:
    body = codecs.BOM_UTF8 + UKRAINIAN.encode()
    encoding, skip = sniff(body, "windows-1251")
    assert encoding is not None and (encoding.name, skip) == ("utf-8", 3)
    utf16 = codecs.BOM_UTF16_LE + UKRAINIAN.encode("utf-16-le")
    assert decode(utf16, None) == UKRAINIAN


def test_meta_declares_when_the_header_does_not() -> None:
    body = b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=koi8-u">'
    body += UKRAINIAN.encode("koi8-u")
    assert UKRAINIAN in (decode(body, None) or "")


def test_undeclared_legacy_cyrillic_is_detected() -> None:
    text = ("<html><body><p>" + UKRAINIAN + " " + UKRAINIAN + "</p></body></html>") * 5
    assert decode(text.encode("cp1251"), None) == text


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("latin1", "windows-1252"),
        ("ISO-8859-1", "windows-1252"),
        ("gb2312", "gbk"),
        ("koi8-u", "koi8-u"),
        (" windows-1251 ", "windows-1251"),
        ("UTF-8", "utf-8"),
        ("bogus", None),
        ("", None),
        # Python decodes these; no browser does: each would turn inert text into markup.
        ("utf-7", None),
        ("unicode_escape", None),
        ("raw_unicode_escape", None),
        ("cp037", None),
        ("base64", None),
        ("hex", None),
        ("rot13", None),
        ("zlib", None),
    ],
)
def test_only_the_encoding_standards_labels_count(label: str, name: str | None) -> None:
    encoding = encoding_for(label)
    assert (None if encoding is None else encoding.name) == name


@pytest.mark.parametrize("label", ["utf-7", "unicode_escape", "raw_unicode_escape", "cp037"])
def test_a_label_browsers_do_not_know_is_ignored_in_the_header_and_in_meta(label: str) -> None:
    inert = b"<p>+ADw-script+AD4-alert(1)+ADw-/script+AD4- \\u003cimg src=x onerror=alert(1)\\u003e"
    assert decode(inert, label) == inert.decode()
    with_meta = f'<meta charset="{label}">'.encode() + inert
    assert decode(with_meta, None) == with_meta.decode()


def test_gbk_is_read_with_the_gb18030_decoder_as_browsers_do() -> None:
    text = "<p>中文 𠀀</p>"  # U+20000 exists in GB18030 only
    assert decode(text.encode("gb18030"), "gb2312") == text


@pytest.mark.parametrize("label", ["iso-2022-kr", "hz-gb-2312", "iso-2022-jp"])
def test_replacement_and_stateful_encodings_are_relayed(label: str) -> None:
    assert decode(b"<p>hello</p>", label) is None


# --- the prescan -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "name"),
    [
        # A search page that reflects the reader's query in its description.
        (b'<meta name="description" content="Results for charset=koi8-u"><p>x', None),
        (b'<meta content="text/html; charset=koi8-u"><p>x', None),
        (b'<meta http-equiv="Content-Type" content="text/html; charset=koi8-u">', "koi8-u"),
        (b"<meta content='text/html; charset=\"koi8-u\"' http-equiv=content-type>", "koi8-u"),
        (b"<META CHARSET=KOI8-U>", "koi8-u"),
        (b"<meta/charset=koi8-u>", "koi8-u"),
        # Only the first of two same-named attributes counts.
        (b"<meta charset=koi8-u charset=windows-1251>", "koi8-u"),
        # Comments hide a declaration; "<!-->" is a whole comment.
        (b"<!-- <meta charset=koi8-u> --><meta charset=windows-1251>", "windows-1251"),
        (b"<!--><meta charset=koi8-u>", "koi8-u"),
        # A declaration in a script's string, a title or a style is text, not a tag.
        (b'<script>var a = "<meta charset=koi8-u>";</script><meta charset=utf-8>', "utf-8"),
        (b"<title><meta charset=koi8-u></title>", None),
        (b"<style>/* <meta charset=koi8-u> */</style>", None),
        # A tag whose name only starts with "meta" is another tag.
        (b"<metadata charset=koi8-u><meta charset=windows-1250>", "windows-1250"),
        # An attribute value holding ">" does not end the tag early.
        (b'<link title=">" ><meta charset=koi8-u>', "koi8-u"),
        # A <meta> cannot honestly say UTF-16: the bytes that said so were ASCII.
        (b"<meta charset=utf-16le>", "utf-8"),
        (b"<meta charset=x-user-defined>", "windows-1252"),
        (b'<meta charset="koi8-u', None),
        # Past the first kilobyte the prescan stops at the first tag a head cannot hold.
        (b"<head>" + b"x" * 2000 + b"<p><meta charset=koi8-u>", None),
        (b"<head><script>" + b"x" * 3000 + b"</script><meta charset=koi8-u>", "koi8-u"),
    ],
    ids=lambda value: repr(value)[:60] if isinstance(value, bytes) else None,
)
def test_the_prescan_reads_meta_as_browsers_do(body: bytes, name: str | None) -> None:
    encoding = prescan(body)
    assert (None if encoding is None else encoding.name) == name


def test_an_undeclared_page_in_valid_utf8_is_utf8() -> None:
    assert _name(b"<p>+ADw-script+AD4-</p>") == "utf-8"


# --- stylesheets -------------------------------------------------------------------------------


def test_css_follows_header_then_charset_rule_then_utf8() -> None:
    text = "a::after { content: 'їжак' }"
    assert decode_css(text.encode("cp1251"), "windows-1251") == text
    ruled = '@charset "windows-1251";\n' + text
    assert decode_css(ruled.encode("cp1251"), None) == ruled
    assert decode_css(text.encode(), None) == text
    assert decode_css(b"a{}", "utf-7") == "a{}"
