"""``<noscript>`` content, kept out of the page's parse as a browser that runs scripts keeps it.

A browser with scripting on reads everything between ``<noscript>`` and the next ``</noscript``
as plain text. lxml reads it as markup and may move parts of it out of the element: a
``<body onload=...>`` inside gives its attributes to the page's body, a ``<div>`` in a head's
``<noscript>`` opens the body. Either turns text that never ran into a live handler. So the
content of each ``<noscript>`` is taken out of the page before the parse, leaving a placeholder
of plain text, and parsed on its own; its nodes go back into the element, where they can only be
text again to a browser that runs scripts, and are still rewritten for a reader without script.

Finding the elements needs a light version of the browser's tokenizer: comments, the raw text
of ``<script>``, ``<style>``, ``<textarea>``... and quoted attribute values are skipped. Where it
and lxml disagree (a placeholder that does not come back as the whole content of a
``<noscript>``), :meth:`Held.restore` says so and the page is relayed as the site sent it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement

_PLACEHOLDER: Final = f"a11y-proxy-noscript-{secrets.token_hex(12)}-"
# "<" followed by what a browser's tokenizer treats as markup.
_MARKUP: Final = re.compile(r"<(?:(!--)|(/)?([A-Za-z][^\t\n\f\r />]*)|[!/?])")
# The rest of a start or end tag: attributes up to its ">". A quoted value may hold ">"; an
# "=" after a name must be followed by a value; a quote left open runs to the end of the page
# (no match: a browser drops such a tag with everything after it).
_TAG_REST: Final = re.compile(
    r"""(?:[\t\n\f\r /]*+[^\t\n\f\r />][^\t\n\f\r /=>]*+"""
    r"""(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:"[^"]*+"|'[^']*+'|(?!["'])[^\t\n\f\r >]*+)"""
    r"""|(?![\t\n\f\r ]*=)))*+[\t\n\f\r /]*+>"""
)
_RAW_TEXT: Final = frozenset(
    {"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes"}
)


def _end_tag(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{name}(?=[\t\n\f\r />])", re.IGNORECASE)


_END: Final = {name: _end_tag(name) for name in (*_RAW_TEXT, "noscript")}


@dataclass(frozen=True, slots=True)
class Held:
    """The page with each ``<noscript>``'s content replaced by a placeholder, and the contents."""

    text: str
    contents: tuple[str, ...]

    def restore(
        self, soup: BeautifulSoup, parse: Callable[[str], Sequence[PageElement] | None]
    ) -> bool:
        """Put each content back, parsed by ``parse``, into its ``<noscript>`` in ``soup``.

        False when a placeholder is not the whole content of a ``<noscript>`` element (the
        tokenizer here and the parser disagreed about the page) or a content cannot be parsed.
        """
        if not self.contents:
            return True
        found = soup.find_all(string=re.compile(re.escape(_PLACEHOLDER)))
        if len(found) != len(self.contents):
            return False
        for string in found:
            element = string.parent
            index = str(string)[len(_PLACEHOLDER) :]
            if (
                not isinstance(string, NavigableString)
                or element is None
                or element.name != "noscript"
                or len(element.contents) != 1
                or not index.isdigit()
                or int(index) >= len(self.contents)
            ):
                return False
            nodes = parse(self.contents[int(index)])
            if nodes is None:
                return False
            string.extract()
            for node in nodes:
                element.append(node)
        return True


def hold(text: str) -> Held:
    """Take the content of every ``<noscript>`` out of ``text``."""
    if "<noscript" not in text.lower():
        return Held(text, ())
    pieces: list[str] = []
    contents: list[str] = []
    done = position = 0
    while (match := _MARKUP.search(text, position)) is not None:
        position = match.end()
        comment, closing, name = match.groups()
        if comment:
            position = _comment_end(text, position)
            continue
        if name is None:  # "<!", "</" or "<?" that is no tag: a bogus comment up to ">"
            close = text.find(">", position)
            position = len(text) if close < 0 else close + 1
            continue
        rest = _TAG_REST.match(text, position)
        if rest is None:
            break  # a tag that never ends: the rest of the page is inside it
        position = rest.end()
        name = name.lower()
        if closing:
            continue
        if name == "plaintext":
            break  # the rest of the page is text
        if name in _RAW_TEXT:
            end = _END[name].search(text, position)
            position = len(text) if end is None else end.start()
        elif name == "noscript":
            end = _END["noscript"].search(text, position)
            stop = len(text) if end is None else end.start()
            pieces += (text[done:position], f"{_PLACEHOLDER}{len(contents)}")
            contents.append(text[position:stop])
            done = position = stop
    if not contents:
        return Held(text, ())
    pieces.append(text[done:])
    return Held("".join(pieces), tuple(contents))


def _comment_end(text: str, start: int) -> int:
    # "<!-->" and "<!--->" are whole (empty) comments; "--!>" also ends one.
    for short in (">", "->"):
        if text.startswith(short, start):
            return start + len(short)
    ends = [found for found in (text.find("-->", start), text.find("--!>", start)) if found >= 0]
    if not ends:
        return len(text)
    first = min(ends)
    return first + (3 if text.startswith("-->", first) else 4)
