"""Where the toolbar goes in a rewritten page: first in ``<body>`` (the default) or last (pure).

The rewriter leaves one slot at the start of the body; "bottom" puts the toolbar before the
serialised ``</body>`` instead, which the serialiser always writes last for a page with a body.
"""

from __future__ import annotations

from typing import Final

from proxy.rewrite import Page

_BODY_END: Final = b"</body>"


def render(page: Page, head_html: str, toolbar_html: str, position: str = "top") -> bytes:
    """The page for one mode with the toolbar at ``position`` ("top" or "bottom")."""
    if position != "bottom" or not page.has_body:
        return page.render(head_html, toolbar_html)
    before, between, after = page.parts
    end = after.rfind(_BODY_END)
    if end < 0:
        end = len(after)
    toolbar = toolbar_html.encode()
    return b"".join((before, head_html.encode(), between, after[:end], toolbar, after[end:]))
