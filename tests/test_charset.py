import codecs

import pytest

from proxy.charset import codec_for, decode, sniff

UKRAINIAN = "Міністерство охорони здоров'я України: новини, ґанок, їжак, є"


def test_header_charset_wins_over_meta() -> None:
    body = b'<meta charset="utf-8">' + UKRAINIAN.encode("cp1251")
    assert decode(body, "windows-1251") == '<meta charset="utf-8">' + UKRAINIAN


def test_bom_wins_over_header_as_in_browsers() -> None:
    body = codecs.BOM_UTF8 + UKRAINIAN.encode()
    assert sniff(body, "windows-1251") == ("utf-8", 3)
    utf16 = codecs.BOM_UTF16_LE + UKRAINIAN.encode("utf-16-le")
    assert decode(utf16, None) == UKRAINIAN


def test_meta_declares_when_the_header_does_not() -> None:
    body = b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=koi8-u">'
    body += UKRAINIAN.encode("koi8-u")
    assert decode(body, None) is not None
    assert UKRAINIAN in (decode(body, None) or "")


def test_undeclared_legacy_cyrillic_is_detected() -> None:
    text = ("<html><body><p>" + UKRAINIAN + " " + UKRAINIAN + "</p></body></html>") * 5
    assert decode(text.encode("cp1251"), None) == text


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("latin1", "cp1252"),
        ("ISO-8859-1", "cp1252"),
        ("gb2312", "gb18030"),
        ("koi8-u", "koi8-u"),
        ("windows-1251", "cp1251"),
        ("UTF-8", "utf-8"),
        ("bogus", None),
        ("", None),
    ],
)
def test_labels_map_like_browsers(label: str, codec: str | None) -> None:
    assert codec_for(label) == codec
