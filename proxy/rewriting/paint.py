"""Whether a CSS background declaration paints anything (pure; tinycss2 tokens).

The colour themes repaint every box that has a background of its own in the theme's
background colour, and leave the others transparent. A transparent layer a site lays over
its content (a video player's loading screen, a box that catches clicks) must stay
transparent: painted in the theme's colour it would hide the page under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

_Node = Any

# Idents that can stand in a background value without being a colour or a picture.
_NOT_PAINT: Final = frozenset(
    {
        "none",
        "transparent",
        "repeat",
        "repeat-x",
        "repeat-y",
        "no-repeat",
        "space",
        "round",
        "scroll",
        "fixed",
        "local",
        "top",
        "bottom",
        "left",
        "right",
        "center",
        "border-box",
        "padding-box",
        "content-box",
        "text",
        "cover",
        "contain",
        "auto",
        "initial",
        "inherit",
        "unset",
        "revert",
        "revert-layer",
    }
)
_COLOUR_FUNCTIONS: Final = frozenset(
    {"rgb", "rgba", "hsl", "hsla", "hwb", "lab", "lch", "oklab", "oklch", "color"}
)


def paints(tokens: Sequence[_Node]) -> bool:
    """Whether a ``background`` or ``background-color`` value paints the box: a colour that
    is not fully transparent, or a picture. A ``var()`` may paint: counted as painting."""
    for token in tokens:
        kind = token.type
        if kind in ("whitespace", "comment", "literal", "number", "dimension", "percentage"):
            continue
        if kind == "ident":
            if token.lower_value not in _NOT_PAINT:
                return True  # a named colour, currentcolor
        elif kind == "hash":
            if not _transparent_hex(token.value):
                return True
        elif kind == "function":
            if token.lower_name not in _COLOUR_FUNCTIONS or not _zero_alpha(token.arguments):
                return True  # url(), a gradient, image-set(), var(), color-mix()...
        elif kind == "url":
            return True
    return False


def _transparent_hex(value: str) -> bool:
    # #rgba and #rrggbbaa carry an alpha; "0" and "00" are fully transparent.
    if len(value) == 4:
        return value[3] == "0"
    if len(value) == 8:
        return value[6:] == "00"
    return False


def _zero_alpha(arguments: Sequence[_Node]) -> bool:
    """Whether a colour function's alpha (after "/" or a fourth comma-separated value) is 0."""
    values = [token for token in arguments if token.type not in ("whitespace", "comment")]
    numbers = [token for token in values if token.type in ("number", "percentage")]
    slash = any(token.type == "literal" and token.value == "/" for token in values)
    commas = sum(1 for token in values if token.type == "literal" and token.value == ",")
    if not (slash or commas == 3) or not numbers:
        return False
    alpha = values[-1]
    return alpha.type in ("number", "percentage") and alpha.value == 0
