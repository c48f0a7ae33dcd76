"""WCAG 2.x contrast arithmetic, shared by the stylesheet tests.

Colours are opaque sRGB triples of 0-255 integers. A translucent colour has no
contrast ratio of its own (it depends on what lies behind it), so parsing one is
an error rather than a silent guess.
"""

from __future__ import annotations

import tinycss2.color4

RGB = tuple[int, int, int]

# WCAG 2.2 gives the sRGB linearisation threshold as 0.04045 (older texts print
# 0.03928); no 8-bit channel value falls between the two, so results agree.
_LINEAR_THRESHOLD = 0.04045


def parse_color(text: str) -> RGB:
    """Parse an opaque CSS colour (`#rgb`, `#rrggbb`, `rgb()`, names...) to 0-255 sRGB."""
    color = tinycss2.color4.parse_color(text.strip())
    if color is None or isinstance(color, str):
        # None: not a colour at all; str: `currentcolor`, which has no value by itself.
        raise ValueError(f"not a concrete CSS colour: {text!r}")
    if color.alpha != 1:
        raise ValueError(f"translucent colour has no contrast of its own: {text!r}")
    red, green, blue = color.to("srgb").coordinates
    return _channel(red), _channel(green), _channel(blue)


def relative_luminance(rgb: RGB) -> float:
    """Relative luminance of an sRGB colour, 0 for black to 1 for white."""
    red, green, blue = (_linear(channel / 255) for channel in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(c1: RGB | str, c2: RGB | str) -> float:
    """Contrast ratio between two colours, from 1.0 to 21.0; the order does not matter."""
    first = relative_luminance(parse_color(c1) if isinstance(c1, str) else c1)
    second = relative_luminance(parse_color(c2) if isinstance(c2, str) else c2)
    lighter, darker = max(first, second), min(first, second)
    return (lighter + 0.05) / (darker + 0.05)


def _channel(value: float) -> int:
    # Colours outside the sRGB gamut (from e.g. lab()) are clipped, as browsers display them.
    return round(min(max(value, 0.0), 1.0) * 255)


def _linear(value: float) -> float:
    if value <= _LINEAR_THRESHOLD:
        return value / 12.92
    return float(((value + 0.055) / 1.055) ** 2.4)
