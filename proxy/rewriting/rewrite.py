"""HTML in, HTML out: one upstream page rewritten once for every mode (pure; bs4 + lxml).

The expensive part (parse, link rewriting, font scaling, serialise) does not depend on the mode.
Its result is a :class:`Page` with two empty slots, one at the end of ``<head>`` and one at the
start of ``<body>``; :meth:`Page.render` fills them with one mode's stylesheet link and toolbar by
joining bytes, so a second mode of the same page costs no parsing at all.

Scripts, styles and inline data are never edited: the rewriter touches attributes, adds marked
elements of its own, and leaves every other node as the parser gave it. (A ``<template>`` holds
markup, not text: it is rewritten like the page, so that what a script stamps out of it links to
the proxy too.)

Where bs4 or lxml would build or write something other than what a browser builds, the
difference is undone here, because the corpus suite found each on real pages:

- whitespace-only text is kept as written (bs4 collapses it: ``white-space: pre`` layouts
  change, whitespace-only scripts and comments change);
- the text of raw-text elements (``<noembed>``, ``<xmp>``, ``<iframe>``...) is written back
  unescaped (bs4 escapes it, and scripts that read it as markup get other markup);
- attributes of a ``<body>`` or ``<html>`` tag that comes late, which lxml drops, are merged
  into the element, as browsers do (a page's CSS hooks live there);
- a stray ``</p>`` becomes an empty paragraph and ``</br>`` a line break, as in browsers
  (lxml drops both; see :class:`_StrayEndTags`).

Pages past :data:`MAX_BYTES` or :data:`MAX_TAGS` are not parsed at all (``None``: relay them):
bs4 needs about 1.7 KB of memory and 30 µs per element, so a limit on markup bounds both.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from html import unescape
from typing import Any, Final

import soupsieve
from bs4 import BeautifulSoup, Comment, ParserRejectedMarkup, Tag
from bs4.builder._lxml import LXMLTreeBuilder
from bs4.dammit import EntitySubstitution
from bs4.element import NavigableString, PageElement
from bs4.formatter import HTMLFormatter
from lxml import etree
from soupsieve import css_types

from proxy.rewriting import charset, noscript, relative
from proxy.rewriting.css import font_overrides, scale_declarations
from proxy.rewriting.links import LinkMap
from proxy.rewriting.toolbar import MARK

# Attributes that hold a list of image candidates rather than one URL: srcset, imagesrcset and
# the lazy loaders' data-srcset, data-lazy-srcset...
_SRCSET_SUFFIX: Final = "srcset"
# A per-process marker that no real page contains: where the mode-specific parts go.
_SLOT: Final = f"a11y-proxy-slot-{secrets.token_hex(12)}"
_SLOT_HTML: Final = f"<!--{_SLOT}-->"

#: Larger bodies are not rewritten (the proxy's own --max-html-bytes is usually lower).
MAX_BYTES: Final = 64 * 1024 * 1024
#: Pages with more ``<`` than this are not rewritten: about 350 MB and 6 s of parsing.
MAX_TAGS: Final = 200_000

# bs4 keeps whitespace-only strings as written only inside these tags; its root is every tag's
# ancestor, so naming it keeps them everywhere.
_KEEP_WHITESPACE: Final = frozenset({BeautifulSoup.ROOT_TAG_NAME})
# lxml reads these as raw text, like browsers; bs4 would escape their text when writing it out.
_RAW_TEXT: Final = frozenset(
    {"script", "style", "xmp", "iframe", "noembed", "noframes", "plaintext"}
)
_FORMATTER: Final = HTMLFormatter(
    entity_substitution=EntitySubstitution.substitute_xml, cdata_containing_tags=set(_RAW_TEXT)
)


@dataclass(frozen=True, slots=True)
class Rules:
    """What to do to every page of the site."""

    links: LinkMap
    #: Selectors of the site's own low-vision widgets, hidden so they cannot fight the theme.
    hidden: tuple[str, ...] = ()


_BODY_END: Final = b"</body>"


@dataclass(frozen=True, slots=True)
class Page:
    """A rewritten page in UTF-8, cut at its slots: before the head slot, between, after.

    A frameset page has no body, so no body slot: its last part is empty.
    """

    parts: tuple[bytes, bytes, bytes]
    has_body: bool
    #: The page's language: its ``lang``, else the one its text is in (``uk`` or ``""``).
    lang: str
    has_canonical: bool
    #: The content of the page's own ``<meta name=viewport>``, if it has one.
    viewport: str | None = None
    #: A ``<base href>`` makes path-absolute links resolve elsewhere: the proxy's own links
    #: must then name the proxy's origin.
    has_base: bool = False

    @property
    def nbytes(self) -> int:
        return sum(len(part) for part in self.parts)

    def render(self, head_html: str, body_start: str, body_end: str = "") -> bytes:
        """The page for one mode: the slots filled, nothing parsed. ``body_end`` goes just
        before ``</body>``, which the serialiser always writes last for a page with a body."""
        before, between, after = self.parts
        if not self.has_body:
            return b"".join((before, head_html.encode(), between, after))
        if not body_end:
            return b"".join((before, head_html.encode(), between, body_start.encode(), after))
        end = after.rfind(_BODY_END)
        if end < 0:
            end = len(after)
        return b"".join(
            (
                before,
                head_html.encode(),
                between,
                body_start.encode(),
                after[:end],
                body_end.encode(),
                after[end:],
            )
        )


def rewrite(raw: bytes, header_charset: str | None, rules: Rules, path: str = "/") -> Page | None:
    """Rewrite one upstream HTML body found at ``path``; None when it is to be relayed as it
    came.

    That is: its encoding cannot be determined, it is past the limits, or it ends inside a
    script that would swallow whatever the proxy added.
    """
    if len(raw) > MAX_BYTES or raw.count(b"<") > MAX_TAGS:
        return None
    text = charset.decode(raw, header_charset)
    if text is None:
        return None
    held = noscript.hold(text)
    soup = _parse(held.text)
    if soup is None or not held.restore(soup, _parse_fragment):
        return None
    if soup.body is not None and soup.body.find("frameset") is not None:
        # A browser either drops this frameset or the body before it, depending on what came
        # first; lxml keeps both. The page cannot be rebuilt as the browser would show it.
        return None
    _merge_late_skeleton(soup, held.text)
    hidden = _Hidden.of(rules.hidden)
    # One walk over the elements as parsed finds both the proxy's own (to remove) and the few
    # that could be the site's widget, before anything is changed.
    tags = soup.find_all(True)
    ours, candidates = _survey(tags, hidden)
    if ours:
        for tag in ours:
            tag.decompose()
        # The text on either side of a removed element is one text, as a parser reads it.
        soup.smooth()
        tags = soup.find_all(True)
        candidates = [tag for tag in candidates if not tag.decomposed]
    _drop_outer_whitespace(soup)
    if hidden is not None:
        _hide(soup, hidden, candidates)
    _mark_long_words(soup)
    base = soup.find("base", href=True)
    found = _rewrite_tags(soup, tags, rules.links, None if base is not None else path)
    if found.script_runs_on:
        # A page cut off inside a script that hides "</script>" (in "<!--<script>"): whatever
        # follows the script is script too, toolbar and all. Relayed as it came.
        return None
    head, body = _ensure_head(soup), _ensure_body(soup)
    head.append(Comment(_SLOT))
    if body is not None:
        body.insert(0, Comment(_SLOT))
    html = soup.html
    lang = str(html.get("lang") or html.get("xml:lang") or "") if html is not None else ""
    if not lang.strip() and body is not None:
        lang = language_of(body.get_text()[:_LANGUAGE_SAMPLE])
    # errors="replace": a numeric reference to a lone surrogate cannot be UTF-8.
    parts = [
        part.encode("utf-8", "replace")
        for part in soup.decode(formatter=_FORMATTER).split(_SLOT_HTML)
    ]
    parts += [b""] * (3 - len(parts))
    return Page(
        (parts[0], parts[1], b"".join(parts[2:])),
        body is not None,
        lang,
        found.has_canonical,
        found.viewport,
        base is not None,
    )


# How much of a page's text tells its language.
_LANGUAGE_SAMPLE: Final = 20_000
_CYRILLIC: Final = re.compile(r"[\u0400-\u04ff]")
# Letters Ukrainian has and Russian lacks, and the reverse.
_UKRAINIAN: Final = re.compile(r"[іїєґІЇЄҐ]")
_RUSSIAN: Final = re.compile(r"[ыэъёЫЭЪЁ]")


def language_of(text: str) -> str:
    """``uk`` for text mostly in Ukrainian, else ``""`` (not known: the site's default)."""
    cyrillic = len(_CYRILLIC.findall(text))
    letters = sum(1 for char in text if char.isalpha())
    if cyrillic < 20 or cyrillic * 2 < letters:
        return ""
    return "uk" if len(_UKRAINIAN.findall(text)) > len(_RUSSIAN.findall(text)) else ""


def _parse(text: str) -> BeautifulSoup | None:
    # multi_valued_attributes=None keeps class/rel as the exact strings the page wrote.
    builder = LXMLTreeBuilder(
        multi_valued_attributes=None, preserve_whitespace_tags=_KEEP_WHITESPACE
    )
    try:
        with _StrayEndTags.replayed_into(builder):
            return BeautifulSoup(text, builder=builder)
    except ParserRejectedMarkup:
        return None


def _parse_fragment(html: str) -> list[PageElement] | None:
    """Markup that belongs inside an element of the body, as nodes of its own."""
    soup = _parse("<!DOCTYPE html><html><body>" + html)
    if soup is None or soup.body is None:
        return None
    return [node.extract() for node in list(soup.body.contents)]


# Inline elements lxml closes when a <p> starts inside them (browsers don't).
_CLOSED_BY_P: Final = frozenset({"b", "i", "u", "s", "strike", "small", "big", "tt"})


class _StrayEndTags(etree.PyErrorLog):  # type: ignore[misc]
    """Browsers turn a stray ``</p>`` into an empty paragraph and ``</br>`` into a line break.

    libxml2 drops both, reporting each as it goes; lxml hands every report to the thread's
    global error log, while the parser is at the place where the tag was. Installed as that
    log, this replays the browser's element into the tree being built at that very point.
    Reports arriving when no parse of ours is running are dropped, as lxml's default global
    log would keep them only for its own diagnostics.
    """

    _REPLAYED: Final = {"Unexpected end tag : p": "p", "Unexpected end tag : br": "br"}
    _local: Final = threading.local()

    def receive(self, entry: Any) -> None:
        replay: Callable[[str], None] | None = getattr(self._local, "replay", None)
        name = self._REPLAYED.get(entry.message)
        if replay is not None and name is not None:
            replay(name)

    @classmethod
    @contextmanager
    def replayed_into(cls, builder: LXMLTreeBuilder) -> Iterator[None]:
        local = cls._local
        if not getattr(local, "installed", False):
            # The global error log is per thread in lxml; this thread's is ours from now on.
            etree.use_global_python_log(cls())
            local.installed = True

        def replay(name: str) -> None:
            # Only inside the body: before it, lxml has not opened <body> yet, and an element
            # made there would end up beside it rather than in it.
            stack = builder.soup.tagStack if builder.soup is not None else []
            if len(stack) < 3 or stack[2].name != "body":
                return
            # lxml never keeps a paragraph inside these: the paragraph goes between two halves
            # of them, as a browser shows it and as lxml reads it back.
            split = []
            while name == "p" and stack[-1].name in _CLOSED_BY_P:
                split.append(stack[-1])
                builder.end(stack[-1].name)
            builder.start(name, {})
            builder.end(name)
            for tag in reversed(split):
                builder.start(tag.name, {key: str(value) for key, value in tag.attrs.items()})

        local.replay = replay
        try:
            yield
        finally:
            local.replay = None


# Where a browser would see an <html> or <body> start tag: not in a comment, not in raw text.
_SKELETON_TAG: Final = re.compile(r"<(html|body)(?=[\t\n\f\r />])", re.I)
_SKIPPED: Final = re.compile(
    r"<(?:(!--)|(script|style|textarea|title|xmp|iframe|noembed|noframes|template)"
    r"(?=[\t\n\f\r />])|(html|body)(?=[\t\n\f\r />]))",
    re.I,
)
_ATTRIBUTE: Final = re.compile(
    r"[\t\n\f\r /]*([^\t\n\f\r />][^\t\n\f\r /=>]*)"
    r"(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:\"([^\"]*)\"|'([^']*)'|([^\t\n\f\r >]*)))?"
)


def _merge_late_skeleton(soup: BeautifulSoup, text: str) -> None:
    """Give <html> and <body> the attributes of every start tag of theirs, as browsers do,
    except event handlers.

    lxml keeps only the attributes of the tag that opened the element; a ``<body class=...>``
    that comes after something already opened the body (an <iframe> in the head, say) loses
    them, and with them the page's own CSS hooks. Most pages need one cheap search to know
    there is nothing to merge.
    """
    elements = {"html": soup.html, "body": soup.body}

    def lacks(match: re.Match[str]) -> bool:
        element = elements[match[1].lower()]
        return element is not None and bool(
            _tag_attributes(text, match.end()).keys() - element.attrs.keys()
        )

    if not any(lacks(match) for match in _SKELETON_TAG.finditer(text)):
        return
    position = 0
    while (match := _SKIPPED.search(text, position)) is not None:
        comment, raw, skeleton = match.groups()
        if comment:
            position = _comment_end(text, match.end())
        elif raw:
            end = re.compile(rf"</{raw}(?=[\t\n\f\r />])", re.I).search(text, match.end())
            position = len(text) if end is None else end.end()
        else:
            element = elements[skeleton.lower()]
            attributes = _tag_attributes(text, match.end())
            if element is not None:
                for name, value in attributes.items():
                    # Event handlers never: a tag this scan sees may be text to a browser
                    # (in an attribute value left open, say), and must not become a handler.
                    # Nor marks of the proxy's own, which each rewrite sets afresh.
                    if not element.has_attr(name) and not name.startswith(("on", MARK)):
                        element[name] = value
            position = match.end()


def _comment_end(text: str, start: int) -> int:
    # "<!-->" and "<!--->" are whole (empty) comments to a browser.
    for short in (">", "->"):
        if text.startswith(short, start):
            return start + len(short)
    end = text.find("-->", start)
    return len(text) if end < 0 else end + 3


def _tag_attributes(text: str, position: int) -> dict[str, str]:
    """The attributes of the start tag whose name ends at ``position``, first one winning."""
    attributes: dict[str, str] = {}
    while (match := _ATTRIBUTE.match(text, position)) is not None and match.end() > position:
        name = match[1].lower()
        value = next((v for v in match.groups()[1:] if v is not None), "")
        attributes.setdefault(name, unescape(value))
        position = match.end()
    return attributes


@dataclass(frozen=True, slots=True)
class _Hidden:
    """The selectors of the site's own widgets, and a cheap test that rules most elements out.

    Matching every element against every selector was a fifth of a page's rewrite. Each
    selector's last compound names something an element must have to match it: an id, a
    class, an attribute or a tag name. An element with none of those is not matched at all;
    the few that have one are matched by soupsieve, exactly as a ``select`` would. A selector
    without such a part (``*``, ``:not(...)``), or one that may depend on where matching
    starts (``:scope``, ``&``, escapes), makes every element a candidate.
    """

    selectors: str
    ids: frozenset[str]
    classes: re.Pattern[str] | None
    attributes: frozenset[str]
    names: frozenset[str]
    everywhere: bool

    @staticmethod
    def of(selectors: tuple[str, ...]) -> _Hidden | None:
        """The compiled form of ``selectors``, made once per process (rules travel with every
        page); None for no selectors."""
        return _hidden(selectors) if selectors else None

    def may_match(self, tag: Tag) -> bool:
        attrs = tag.attrs
        if self.everywhere or tag.name in self.names:
            return True
        if self.ids and attrs.get("id") in self.ids:
            return True
        if self.classes is not None:
            classes = attrs.get("class")
            if isinstance(classes, str) and self.classes.search(classes):
                return True
        return bool(self.attributes) and not self.attributes.isdisjoint(attrs)


@lru_cache(maxsize=16)
def _hidden(selectors: tuple[str, ...]) -> _Hidden:
    text = ", ".join(selectors)
    wants: dict[str, set[str]] = {"id": set(), "class": set(), "attribute": set(), "name": set()}
    everywhere = any(risky in text.lower() for risky in ("scope", "&", "\\"))
    for selector in soupsieve.compile(text).selectors:
        need = None if everywhere else _one_need(selector)
        if need is None:
            everywhere = True
            break
        wants[need[0]].add(need[1])
    classes = sorted(wants["class"])
    return _Hidden(
        text,
        frozenset(wants["id"]),
        re.compile("|".join(map(re.escape, classes))) if classes else None,
        frozenset(wants["attribute"]),
        frozenset(wants["name"]),
        everywhere,
    )


def _one_need(selector: object) -> tuple[str, str] | None:
    """Something an element must have to match one selector of a compiled list: ("id", "x"),
    ("class", "x"), ("attribute", "x") or ("name", "x"); None when nothing is certain."""
    if not isinstance(selector, css_types.Selector):
        return None
    if selector.ids:
        return "id", selector.ids[0]
    if selector.classes:
        return "class", selector.classes[0]
    for attribute in selector.attributes:
        # [a!=b] matches elements without the attribute; a namespace prefix matches otherwise.
        name = attribute.attribute
        if getattr(attribute, "inverse", True) is False and not attribute.prefix and name.isascii():
            return "attribute", name.lower()
    tag = selector.tag
    if tag is not None and tag.prefix is None and tag.name not in ("", "*") and tag.name.isascii():
        return "name", tag.name.lower()
    return None


def _survey(tags: list[Tag], hidden: _Hidden | None) -> tuple[list[Tag], list[Tag]]:
    """The elements the proxy added earlier, and those that may be the site's widget."""
    ours = [tag for tag in tags if MARK in tag.attrs]
    if hidden is None:
        return ours, []
    return ours, [tag for tag in tags if hidden.may_match(tag)]


def _hide(soup: BeautifulSoup, hidden: _Hidden, candidates: list[Tag]) -> None:
    compiled = soup.css.compile(hidden.selectors)  # with the document's namespaces, as select
    if hidden.everywhere:
        matched = compiled.select(soup)
    else:
        # select() does not look inside a <template>; neither does this.
        matched = [tag for tag in compiled.filter(candidates) if not _in_template(tag)]
    for tag in matched:
        tag["hidden"] = ""
        tag[f"{MARK}-hidden"] = ""


def _in_template(tag: Tag) -> bool:
    return any(parent.name == "template" for parent in tag.parents)


#: Marks an element with the length of the longest word of its own text, in letters, where
#: that word could be too wide for a phone once the text grows: the reading modes then cap the
#: element's font size so that the word fits the window (see readable.css).
WORD: Final = f"{MARK}-word"
# A heading's letters are large: a short word may not fit. Other text gets a mark only for a
# word that could not fit even at a body text size.
_HEADINGS: Final = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_HEADING_WORD: Final = 6
# A "word" is what a line cannot break inside: a run of anything but spaces and hyphens (an
# address or a number is one too).
_WORD: Final = re.compile("[^\t\n\f\r \\-\u2010]+")
_LONG_WORD: Final = re.compile("[^\t\n\f\r \\-\u2010]{12,}")
# Where text is not laid out as the page's words: script, data, raw text, form values.
_NOT_TEXT: Final = frozenset(
    {"script", "style", "template", "textarea", "title", "option", "noembed", "noframes"}
    | {"xmp", "iframe", "plaintext"}
)


def _mark_long_words(soup: BeautifulSoup) -> None:
    """Mark the elements whose words could break out of a phone's width (``WORD``)."""
    longest: dict[int, tuple[Tag, int]] = {}

    def note(element: Tag, text: str) -> None:
        length = max((len(word) for word in _WORD.findall(text)), default=0)
        known = longest.get(id(element))
        if known is None or known[1] < length:
            longest[id(element)] = (element, length)

    for heading in soup.find_all(_HEADINGS):
        text = heading.get_text()
        if _WORD.search(text) and max(map(len, _WORD.findall(text))) >= _HEADING_WORD:
            note(heading, text)
    for string in soup.find_all(string=_LONG_WORD):
        parent = string.parent
        if type(string) is NavigableString and parent is not None and parent.name not in _NOT_TEXT:
            note(parent, str(string))
    for element, length in longest.values():
        element[WORD] = str(length)


@dataclass(slots=True)
class _Found:
    """What the walk over the elements learnt about the page."""

    has_canonical: bool = False
    #: One of its scripts would swallow the rest of the page once written out.
    script_runs_on: bool = False
    viewport: str | None = None


def _rewrite_tags(soup: BeautifulSoup, tags: list[Tag], links: LinkMap, path: str | None) -> _Found:
    """One walk over every element: links, inline font sizes, charset and <style> companions.

    ``path`` is where the page is (None when a ``<base>`` decides how its links resolve):
    relative links to files it loads are made path-absolute, so a page reached through a mode
    link loads them from the same URLs as the plain page, and the browser fetches each once.
    """
    found = _Found()
    declares_charset = False
    styles: list[Tag] = []
    for tag in tags:
        attrs = tag.attrs
        name = tag.name
        for attribute, value in attrs.items():
            if not isinstance(value, str) or not value:
                continue
            if attribute == "style":
                # On <html>, % and em sizes are relative to the browser default: scaled too.
                attrs[attribute] = scale_declarations(value, root=name == "html")
            elif attribute.endswith(_SRCSET_SUFFIX):
                value = attrs[attribute] = links.srcset(value)
                if path is not None and attribute in ("srcset", "imagesrcset"):
                    attrs[attribute] = relative.srcset(path, value)
            elif "//" in value[:12]:
                attrs[attribute] = links.url(value)
            elif path is not None and relative.loads(name, attribute):
                attrs[attribute] = relative.resolve(path, value)
        if name == "style":
            styles.append(tag)
        elif name == "script":
            found.script_runs_on = found.script_runs_on or _hides_its_end(tag.get_text())
        elif name == "meta":
            declares_charset = _meta(tag, links) or declares_charset
            if str(attrs.get("name", "")).strip().lower() == "viewport":
                found.viewport = str(attrs.get("content", ""))
        elif name == "link" and "canonical" in str(attrs.get("rel", "")).lower().split():
            found.has_canonical = True
    for style in styles:
        _add_font_companion(soup, style)
    if not declares_charset:
        # A saved copy of the page must still know it is UTF-8.
        meta = soup.new_tag("meta", attrs={"charset": "utf-8", MARK: "charset"})
        _ensure_head(soup).insert(0, meta)
    return found


_SCRIPT_ESCAPES: Final = re.compile(r"<!--|-->|<(/?)script[\t\n\f\r />]", re.I)


def _hides_its_end(script: str) -> bool:
    """Whether ``<script>`` + ``script`` + ``</script>`` leaves the script open in a browser.

    The HTML tokenizer's script states: after ``<!--``, a ``<script`` makes the next
    ``</script>`` close only that inner one ("double escaped"); ``-->`` undoes both.
    """
    if "<!--" not in script:
        return False
    escaped = double = False
    for match in _SCRIPT_ESCAPES.finditer(script):
        found = match.group()
        if found == "<!--":
            # "<!-->" and "<!--->" open and close at once: their dashes are shared.
            escaped = not script.startswith((">", "->"), match.end())
        elif found == "-->":
            escaped = double = False
        elif escaped:
            double = not match.group(1)
    return double


def _meta(tag: Tag, links: LinkMap) -> bool:
    """Point a refresh at the proxy; make a charset declaration say UTF-8, as the page is sent.

    Returns whether the tag declares the charset.
    """
    if tag.has_attr("charset"):
        tag["charset"] = "utf-8"
        return True
    equiv = str(tag.get("http-equiv", "")).lower()
    if equiv == "content-type":
        tag["content"] = "text/html; charset=utf-8"
        return True
    if equiv == "refresh":
        tag["content"] = links.refresh(str(tag.get("content", "")))
    return False


def _add_font_companion(soup: BeautifulSoup, style: Tag) -> None:
    # The upstream <style> stays byte for byte; its scaled font sizes follow it in a sibling,
    # so they win over it and lose to everything that came after it, as the originals did.
    overrides = font_overrides(style.get_text())
    if not overrides:
        return
    companion = soup.new_tag("style", attrs={MARK: "fonts"})
    for kept in ("media", "nonce"):
        if style.has_attr(kept):
            companion[kept] = style[kept]
    companion.string = overrides
    style.insert_after(companion)


def _drop_outer_whitespace(soup: BeautifulSoup) -> None:
    # Whitespace outside <html> is never shown, and lxml keeps it or not depending on what
    # surrounds it: dropped, a rewritten page reads back the same.
    for node in list(soup.contents):
        if type(node) is NavigableString and not node.strip("\t\n\f\r "):
            node.extract()


def _ensure_body(soup: BeautifulSoup) -> Tag | None:
    """The body; made, as a browser makes it, for a page that has only a head (None: frameset)."""
    if soup.body is not None:
        return soup.body
    if soup.find("frameset") is not None:
        return None
    body = soup.new_tag("body")
    assert soup.html is not None  # _ensure_head made it
    soup.html.append(body)
    return body


def _ensure_head(soup: BeautifulSoup) -> Tag:
    if soup.head is not None:
        return soup.head
    head = soup.new_tag("head")
    if soup.html is None:
        soup.insert(0, soup.new_tag("html"))
    assert soup.html is not None
    soup.html.insert(0, head)
    return head
