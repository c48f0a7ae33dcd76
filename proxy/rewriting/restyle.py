"""An upstream stylesheet rewritten so its font sizes follow the reading mode (pure).

The result does not depend on the mode: at scale 1 it renders exactly as the original, and the
mode stylesheet's ``--a11y-scale`` does the rest. So one stored copy serves every mode.
"""

from __future__ import annotations

from proxy.rewriting.charset import decode_css
from proxy.rewriting.css import scale_stylesheet


def restyle(raw: bytes, header_charset: str | None) -> bytes:
    """The stylesheet, in UTF-8, with every font size multiplied by the mode's scale."""
    return scale_stylesheet(decode_css(raw, header_charset)).encode("utf-8", "replace")
