"""What the corpus suite compares and what it reports, kept apart from the tests that drive it.

A page is read here by the standard library's tokenizer (``html.parser``), not by the lxml parser
the rewriter uses, so a loss caused by the rewriter's own parser cannot hide on both sides of a
comparison. :func:`compare` holds an upstream page against the proxy's output and returns every
difference that is not an intended change; the intended ones are counted as allowances, with
their reason, and end up in the Markdown report.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit

from proxy.rewriting.relative import loads, resolve
from proxy.rewriting.toolbar import MARK

# Elements the HTML parser never gives children, so a marked one ends at its start tag.
_VOID: Final = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
# The document skeleton: the rewriter's parser writes these out even where a page left them
# implied, so they are compared by their attributes, not by their place in the sequence.
_SKELETON: Final = frozenset({"html", "head", "body"})
_RAW: Final = frozenset({"script", "style"})
_WHITESPACE: Final = re.compile(r"[\t\n\f\r ]+")  # HTML's whitespace: not U+00A0
_TEMPLATE: Final = re.compile(r"<template\b[^>]*>(.*?)</template\s*>", re.I | re.S)
_SRCSET_CANDIDATE: Final = re.compile(r"[\t\n\f\r ]*([^\t\n\f\r ,][^\t\n\f\r ]*)[^,]*(?:,|$)")
# Scripts whose letters show a page's language survived: (name, first, last code point).
SCRIPTS: Final = (
    ("Cyrillic", 0x0400, 0x04FF),
    ("Han", 0x4E00, 0x9FFF),
    ("accented Latin", 0x00C0, 0x024F),
    ("Hebrew", 0x0590, 0x05FF),
    ("Arabic", 0x0600, 0x06FF),
)
RIGHT_TO_LEFT: Final = frozenset({"Hebrew", "Arabic"})


@dataclass(frozen=True, slots=True)
class Element:
    name: str
    attrs: dict[str, str]
    #: How deep in the tree (known for a browser's tree; 0 for a token stream).
    depth: int = 0


@dataclass(slots=True)
class Outline:
    """A page as the reader's tokenizer sees it, the proxy's own elements set aside."""

    #: Visible text, as one string with every run of HTML whitespace made one space.
    text: str = ""
    #: Bodies of <script> and <style>, in order, exactly as written.
    raw: list[tuple[str, str]] = field(default_factory=list)
    #: Inner source of every <template>, exactly as written.
    templates: list[str] = field(default_factory=list)
    #: Start tags in order, the skeleton left out.
    elements: list[Element] = field(default_factory=list)
    #: Attributes of html, head and body (the first of each, as a browser merges them).
    skeleton: dict[str, dict[str, str]] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    #: The proxy's own elements: (tag, value of the mark attribute).
    ours: list[tuple[str, str]] = field(default_factory=list)
    #: ``<p></p>`` with nothing on or in it, left out of :attr:`elements`: a browser makes one of
    #: a stray ``</p>`` too, which the rewriter writes out as this (the DOM check sees both).
    empty_paragraphs: int = 0


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.outline = Outline()
        self._text: list[str] = []
        self._ours: list[str] = []  # open marked elements: skip everything inside
        self._raw: str | None = None
        self._raw_parts: list[str] = []
        self._bare_p: int | None = None  # index of a <p> with nothing on or in it so far

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values: dict[str, str] = {}
        for name, value in attrs:
            # The first of a repeated attribute wins, as in browsers; newlines as preprocessed.
            values.setdefault(name, _newlines(value or ""))
        if self._ours:
            if tag == self._ours[-1] and tag not in _VOID:
                self._ours.append(tag)
            return
        if MARK in values:
            self.outline.ours.append((tag, values[MARK]))
            if tag not in _VOID:
                self._ours.append(tag)
            return
        self._bare_p = None
        if tag in _SKELETON:
            self.outline.skeleton.setdefault(tag, values)
        else:
            if tag == "p" and not values:
                self._bare_p = len(self.outline.elements)
            self.outline.elements.append(Element(tag, values))
        if tag in _RAW:
            self._raw, self._raw_parts = tag, []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._ours:
            if tag == self._ours[-1]:
                self._ours.pop()
            return
        if tag == self._raw:
            self.outline.raw.append((tag, "".join(self._raw_parts)))
            self._raw = None
        elif tag == "p" and self._bare_p is not None:
            del self.outline.elements[self._bare_p]
            self.outline.empty_paragraphs += 1
        elif tag == "br":  # "</br>" is a line break to a browser, whatever came before
            self.outline.elements.append(Element("br", {}))
        self._bare_p = None

    def handle_data(self, data: str) -> None:
        self._bare_p = None
        if self._ours:
            return
        if self._raw is not None:
            self._raw_parts.append(data)
        else:
            self._text.append(data)

    def handle_comment(self, data: str) -> None:
        self._bare_p = None
        if not self._ours:
            self.outline.comments.append(data)

    def finish(self, source: str) -> Outline:
        self.close()
        if self._raw is not None:  # a page cut off inside a script still had that script
            self.outline.raw.append((self._raw, "".join(self._raw_parts)))
        self.outline.text = _WHITESPACE.sub(" ", "".join(self._text)).strip()
        self.outline.templates = [_newlines(m.group(1)) for m in _TEMPLATE.finditer(source)]
        return self.outline


def outline(html: str) -> Outline:
    """Read a page with the standard library's tokenizer."""
    reader = _Reader()
    reader.feed(html)
    return reader.finish(html)


def _newlines(value: str) -> str:
    # A browser turns CR LF and lone CR into LF before it tokenizes anything.
    if "\r" not in value:
        return value
    return value.replace("\r\n", "\n").replace("\r", "\n")


# -- which URLs belong to a site ----------------------------------------------------------

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Origin:
    """A site's origin as the report understands it (http and https count as one site)."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin | None:
        parts = _absolute(url)
        if parts is None or parts.hostname is None:
            return None
        scheme = parts.scheme or "https"
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:
            return None
        return cls(scheme, parts.hostname.rstrip("."), port)

    def __str__(self) -> str:
        default = _DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{self.host}" + ("" if default else f":{self.port}")

    def owns(self, url: str) -> bool:
        other = Origin.of(url)
        if other is None or other.host != self.host:
            return False
        if other.port == self.port:
            return True
        defaults = _DEFAULT_PORTS.values()
        return other.port in defaults and self.port in defaults


def _absolute(url: str) -> SplitResult | None:
    value = url.strip("\t\n\f\r ")
    if not (value.startswith("//") or re.match(r"(?i)https?://", value)):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return parts if parts.netloc and "@" not in parts.netloc else None


def home_origin(page: Outline) -> Origin | None:
    """The site a saved page came from: its canonical or og:url, else its commonest link host."""
    for element in page.elements:
        rel = element.attrs.get("rel", "").lower().split()
        if element.name == "link" and "canonical" in rel:
            origin = Origin.of(element.attrs.get("href", ""))
            if origin is not None:
                return origin
    for element in page.elements:
        if element.name == "meta" and element.attrs.get("property", "").lower() == "og:url":
            origin = Origin.of(element.attrs.get("content", ""))
            if origin is not None:
                return origin
    hosts = Counter(
        origin
        for element in page.elements
        if element.name == "a"
        for origin in [Origin.of(element.attrs.get("href", ""))]
        if origin is not None
    )
    return hosts.most_common(1)[0][0] if hosts else None


def urls_in(name: str, value: str) -> list[str]:
    """The URLs an attribute holds: every candidate of a srcset, else the value itself."""
    if name.endswith("srcset"):
        return [m.group(1) for m in _SRCSET_CANDIDATE.finditer(value) if m.group(1)]
    return [value]


# -- comparing an upstream page with the proxy's output ------------------------------------


@dataclass(slots=True)
class Comparison:
    """Differences that are failures, and intended changes counted per reason."""

    failures: list[str] = field(default_factory=list)
    allowed: Counter[str] = field(default_factory=Counter)

    def fail(self, message: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(message)

    def allow(self, reason: str, count: int = 1) -> None:
        self.allowed[reason] += count


# Reasons for the changes the rewriter makes on purpose.
STYLE_SCALED: Final = (
    "inline sizes, heights, columns, pinned boxes and backgrounds follow the modes"
)
WORD_MARKED: Final = "the length of the longest word marked, for the modes' room rule"
RESOLVED: Final = "a relative link to a file the page loads made path-absolute"
CHARSET_SAID: Final = "charset declaration made to say utf-8 (the page is sent as UTF-8)"
HIDDEN: Final = "the site's own low-vision widget hidden"
MAPPED: Final = "upstream-origin URL pointed at the proxy"
STRAY_P: Final = "stray </p> written as the empty paragraph a browser makes of it"


def compare(
    upstream: Outline,
    output: Outline,
    *,
    home: Origin | None,
    public: str,
    path: str = "/",
) -> Comparison:
    """Everything of ``upstream`` that ``output`` lost or changed beyond the intended changes.

    ``home`` is the origin whose URLs must now point at ``public``; every other URL must be
    exactly as it was, but for relative links to files the page at ``path`` loads.
    """
    result = Comparison()
    _compare_text(upstream.text, output.text, result)
    if output.raw != upstream.raw:
        _compare_sequences("script/style body", upstream.raw, output.raw, result)
    if output.templates != upstream.templates:
        _compare_sequences("template body", upstream.templates, output.templates, result)
    if output.comments != upstream.comments:
        _compare_sequences("comment", upstream.comments, output.comments, result)
    for name in _SKELETON:
        before, after = upstream.skeleton.get(name, {}), output.skeleton.get(name, {})
        _compare_attrs(Element(name, before), Element(name, after), home, public, result, path)
    compare_elements(upstream.elements, output.elements, home, public, result, path)
    extra = output.empty_paragraphs - upstream.empty_paragraphs
    if extra > 0:
        result.allow(STRAY_P, extra)
    elif extra < 0:
        result.fail(f"{-extra} empty <p></p> lost")
    return result


def compare_elements(
    before: list[Element],
    after: list[Element],
    home: Origin | None,
    public: str,
    result: Comparison,
    path: str = "/",
) -> None:
    """Two element sequences: the same elements in the same places, attributes as intended."""
    keys_before = [(e.depth, e.name) for e in before]
    keys_after = [(e.depth, e.name) for e in after]
    for op, a1, a2, b1, b2 in opcodes(keys_before, keys_after):
        if op == "equal":
            for one, other in zip(before[a1:a2], after[b1:b2], strict=True):
                _compare_attrs(one, other, home, public, result, path)
        else:
            result.fail(f"elements {op}: {_tags(before[a1:a2])} -> {_tags(after[b1:b2])}")


Opcode = tuple[str, int, int, int, int]


def opcodes(before: list[Any], after: list[Any]) -> list[Opcode]:
    """difflib's edit script, with the common head and tail matched first.

    Pages differ, when they do, in a few places; difflib alone is quadratic on the long runs of
    alike elements real pages have.
    """
    if before == after:
        return [("equal", 0, len(before), 0, len(after))]
    head = 0
    while head < min(len(before), len(after)) and before[head] == after[head]:
        head += 1
    tail = 0
    while (
        tail < min(len(before), len(after)) - head
        and before[len(before) - 1 - tail] == after[len(after) - 1 - tail]
    ):
        tail += 1
    middle = difflib.SequenceMatcher(
        None, before[head : len(before) - tail], after[head : len(after) - tail], False
    )
    codes: list[Opcode] = [("equal", 0, head, 0, head)] if head else []
    codes += [
        (op, a1 + head, a2 + head, b1 + head, b2 + head)
        for op, a1, a2, b1, b2 in middle.get_opcodes()
    ]
    if tail:
        codes.append(("equal", len(before) - tail, len(before), len(after) - tail, len(after)))
    return codes


def _compare_text(before: str, after: str, result: Comparison) -> None:
    if before == after:
        return
    words_before, words_after = before.split(" "), after.split(" ")
    for op, a1, a2, b1, b2 in opcodes(words_before, words_after):
        if op != "equal":
            lost = " ".join(words_before[a1:a2])[:120]
            got = " ".join(words_after[b1:b2])[:120]
            result.fail(f"text {op}: {lost!r} -> {got!r}")


def _compare_sequences(
    what: str,
    before: list[object] | list[str] | list[tuple[str, str]],
    after: Iterable[object],
    result: Comparison,
) -> None:
    after = list(after)
    if len(before) != len(after):
        result.fail(f"{what}: {len(before)} upstream, {len(after)} in the output")
        return
    for index, (one, other) in enumerate(zip(before, after, strict=True)):
        if one != other:
            result.fail(f"{what} #{index} differs: {_first_difference(str(one), str(other))}")


def _first_difference(one: str, other: str) -> str:
    at = next((i for i, (a, b) in enumerate(zip(one, other, strict=False)) if a != b), None)
    at = min(len(one), len(other)) if at is None else at
    return f"at {at}: {one[max(0, at - 30) : at + 50]!r} -> {other[max(0, at - 30) : at + 50]!r}"


def _tags(elements: list[Element]) -> str:
    shown = " ".join(_shown(e) for e in elements[:8])
    return shown + (f" (+{len(elements) - 8})" if len(elements) > 8 else "") or "nothing"


def _shown(element: Element) -> str:
    text = element.attrs.get("") if element.name.endswith("#text") else None
    return repr(text[:60]) if text is not None else f"<{element.name}>"


def _compare_attrs(
    before: Element,
    after: Element,
    home: Origin | None,
    public: str,
    result: Comparison,
    path: str = "/",
) -> None:
    if before.attrs == after.attrs:
        return
    added = set(after.attrs) - set(before.attrs)
    if f"{MARK}-word" in added:
        result.allow(WORD_MARKED)
        added.discard(f"{MARK}-word")
    if added == {"hidden", f"{MARK}-hidden"} or added == {f"{MARK}-hidden"}:
        result.allow(HIDDEN)
    elif added:
        result.fail(f"<{before.name}> gained {sorted(added)}")
    for name in set(before.attrs) - set(after.attrs):
        result.fail(f"<{before.name}> lost {name}={before.attrs[name]!r}")
    for name, value in before.attrs.items():
        new = after.attrs.get(name)
        if new is None or new == value:
            if new is not None and home is not None and _points_home(name, new, home):
                result.fail(f"<{before.name} {name}> still points upstream: {new[:100]!r}")
            continue
        if name == "style" and "--a11y-" in new and "--a11y-" not in value:
            result.allow(STYLE_SCALED)
        elif loads(before.name.lower(), name) and resolve(path, value) == new:
            result.allow(RESOLVED)
        elif before.name.lower() == "meta" and _declares_charset(name, before.attrs):
            result.allow(CHARSET_SAID)
        elif home is not None and _maps(name, value, new, home, public):
            result.allow(MAPPED)
        else:
            result.fail(f"<{before.name} {name}> changed: {value[:100]!r} -> {new[:100]!r}")


def _declares_charset(name: str, attrs: dict[str, str]) -> bool:
    if name == "charset":
        return True
    return name == "content" and attrs.get("http-equiv", "").lower() == "content-type"


def _points_home(name: str, value: str, home: Origin) -> bool:
    return any(home.owns(url) for url in urls_in(name, value))


def _maps(name: str, before: str, after: str, home: Origin, public: str) -> bool:
    """Whether ``after`` is ``before`` with exactly its upstream URLs moved to ``public``."""
    old, new = urls_in(name, before), urls_in(name, after)
    if name == "content" and len(old) == 1 and not home.owns(old[0]):
        # <meta http-equiv=refresh content="5; url=...">
        old, new = [_refresh_url(before)], [_refresh_url(after)]
    if len(old) != len(new):
        return False
    for one, other in zip(old, new, strict=True):
        if not home.owns(one):
            if one != other:
                return False
            continue
        kept = _absolute(one)
        moved = _absolute(other)
        if kept is None or moved is None or home.owns(other):
            return False
        if f"{moved.scheme}://{moved.netloc}" != public:
            return False
        if (kept.path or "/", kept.query, kept.fragment) != (
            moved.path or "/",
            moved.query,
            moved.fragment,
        ):
            return False
    return True


def _refresh_url(content: str) -> str:
    match = re.search(r"(?i)url\s*=\s*['\"]?([^'\"]*)", content)
    return match.group(1) if match else content


# -- the report ---------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """What the suite measured on one page."""

    page: str
    size: int = 0
    rewrite_ms: float = 0.0
    #: Output of the pure rewrite (default mode) minus input, in bytes.
    growth: int = 0
    #: The served default-mode page minus the upstream page, in bytes.
    served_growth: int = 0
    #: Bytes of font-size companions the rewriter added after the page's <style> elements.
    companions: int = 0
    home: str = ""
    mapped: int = 0
    scripts: str = ""
    dom_nodes: int = 0
    pixels: float | None = None
    allowances: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class Report:
    """The per-page table and the notes the corpus suite writes when it is done."""

    rows: dict[str, Row] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def row(self, page: str) -> Row:
        return self.rows.setdefault(page, Row(page))

    def markdown(self) -> str:
        lines = [
            "# Corpus report",
            "",
            "Growth is output minus input in bytes: of the pure rewrite (toolbar and links",
            "included) and of the page as served in the default mode; 'fonts' is the part of it",
            "that is font-size companions of the page's own <style> elements. 'pixels' is the",
            "share of the screenshot that differs from the original's (sampled pages only).",
            "",
            "| page | size | rewrite | growth | served | fonts | mapped links | DOM nodes "
            "| pixels | text | allowed |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
        ]
        for row in sorted(self.rows.values(), key=lambda r: r.page):
            allowed = "; ".join(f"{reason} ×{n}" for reason, n in sorted(row.allowances.items()))
            pixels = "" if row.pixels is None else f"{row.pixels:.3%}"
            mapped = f"{row.mapped} ({row.home})" if row.home else "-"
            # Pages served in a legacy charset go through the proxy only.
            rewrite = f"{row.rewrite_ms:.0f} ms" if row.rewrite_ms else "-"
            growth = f"{row.growth:+d}" if row.rewrite_ms else "-"
            lines.append(
                f"| {row.page} | {_kb(row.size)} | {rewrite} | {growth} "
                f"| {row.served_growth:+d} | {row.companions} | {mapped} | {row.dom_nodes} "
                f"| {pixels} | {row.scripts or 'ASCII'} | {allowed or '-'} |"
            )
        if self.notes:
            lines += ["", "## Notes", "", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "corpus-report.md"
        path.write_text(self.markdown(), encoding="utf-8")
        return path


def _kb(size: int) -> str:
    return f"{size / 1024:.1f} KB"


def scripts_of(text: str) -> list[str]:
    """Which writing systems of :data:`SCRIPTS` a text uses."""
    return [name for name, pattern in _SCRIPT_PATTERNS if pattern.search(text)]


_SCRIPT_PATTERNS: Final = tuple(
    (name, re.compile(f"[{chr(first)}-{chr(last)}]")) for name, first, last in SCRIPTS
)


# One element of the proxy's own, through its end tag when it has one.
_OURS: Final = re.compile(rf'<(\w+)(?=[^>]*\s{MARK}="([^"]*)")[^>]*>')


@dataclass(frozen=True, slots=True)
class Ours:
    """One element the proxy added: its tag, the value of its mark, its size in UTF-8."""

    tag: str
    kind: str
    nbytes: int


_WORD_MARK: Final = re.compile(rf' {MARK}-word="\d+"')


def split_ours(html: str) -> tuple[str, list[Ours]]:
    """The page without the proxy's own elements and word marks, and those elements (the
    marks counted as one of kind "word", of their total size)."""
    marks = sum(len(match.group()) for match in _WORD_MARK.finditer(html))
    html = _WORD_MARK.sub("", html)
    rest, ours = _split_elements(html)
    if marks:
        ours.append(Ours("attribute", "word", marks))
    return rest, ours


def _split_elements(html: str) -> tuple[str, list[Ours]]:
    rest: list[str] = []
    ours: list[Ours] = []
    position = 0
    for match in _OURS.finditer(html):
        if match.start() < position:  # inside one of ours already cut out
            continue
        tag, kind = match.groups()
        end = match.end()
        if tag.lower() not in _VOID:
            close = html.find(f"</{tag}>", end)
            end = len(html) if close < 0 else close + len(tag) + 3
        rest.append(html[position : match.start()])
        ours.append(Ours(tag.lower(), kind, len(html[match.start() : end].encode())))
        position = end
    rest.append(html[position:])
    return "".join(rest), ours
