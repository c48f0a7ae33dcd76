"""Where the proxy's markup goes in a rewritten page (pure).

The toolbar goes first in ``<body>`` (the default) or last; with it first, a link back to it
goes last, so it can be reached from the end of a long page.
"""

from __future__ import annotations

from proxy.rewriting.rewrite import Page


def render(page: Page, head_html: str, toolbar_html: str, back_html: str, position: str) -> bytes:
    """The page for one mode with the toolbar at ``position`` ("top" or "bottom")."""
    if position == "bottom":
        return page.render(head_html, "", toolbar_html)
    return page.render(head_html, toolbar_html, back_html)
