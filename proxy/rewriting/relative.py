"""Relative links to the files a page loads, made path-absolute (pure).

A page reached through a mode link lives at ``/_a11y/view/<mode>/news/x.html``, so a relative
``img/a.png`` on it resolves under the mode link: every mode would fetch every picture, script
and stylesheet again under a URL of its own. Made path-absolute (``/news/img/a.png``), they
are fetched from the same URLs in every mode, and a browser's cache keeps one copy.

Only what a page loads is changed. Links a reader follows (``<a>``, ``<form>``, frames) stay
relative, so they keep the reader inside the mode link.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urljoin

# Elements and the attribute by which each loads a file; "src" loads one on any element but
# frames, whose documents are pages to read. A lazy loader's data-src is left alone: it is
# the page script's to read, and may hold anything (JSON, say) rather than a URL.
_LOADS: Final = frozenset(
    {
        ("link", "href"),
        ("video", "poster"),
        ("object", "data"),
        ("body", "background"),
        ("table", "background"),
        ("td", "background"),
        ("image", "href"),
        ("image", "xlink:href"),
        ("use", "href"),
        ("use", "xlink:href"),
        ("feimage", "href"),
    }
)
_FRAMES: Final = frozenset({"iframe", "frame"})
# Already absolute (a scheme), path-absolute or scheme-relative, only a fragment, or empty.
_NOT_RELATIVE: Final = re.compile(r"^[\t\n\f\r ]*(?:[A-Za-z][A-Za-z0-9+.\-]*:|[/\\]|#|$)")
_SRCSET_CANDIDATE: Final = re.compile(r"([\t\n\f\r ]*)([^\t\n\f\r ,][^\t\n\f\r ]*)([^,]*(?:,|$))")
_ORIGIN: Final = "http://page.invalid"


def loads(element: str, attribute: str) -> bool:
    """Whether ``attribute`` of ``element`` names a file the page loads."""
    if attribute == "src":
        return element not in _FRAMES
    return (element, attribute) in _LOADS


def resolve(path: str, value: str) -> str:
    """``value`` resolved against the page at ``path``, if it is relative; else as it is."""
    if _NOT_RELATIVE.match(value):
        return value
    resolved = urljoin(_ORIGIN + path, value.strip("\t\n\f\r "))
    return resolved[len(_ORIGIN) :] if resolved.startswith(_ORIGIN + "/") else value


def srcset(path: str, value: str) -> str:
    """Each relative URL of a ``srcset`` list resolved; descriptors kept."""
    return _SRCSET_CANDIDATE.sub(
        lambda m: m.group(1) + resolve(path, m.group(2)) + m.group(3), value
    )
