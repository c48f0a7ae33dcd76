"""The viewport a page is laid out in, per mode (pure).

Pages made for desktops say ``width=1024`` or nothing, and a phone lays them out that wide and
shrinks them to a third: "large font" then means large letters shrunk to tiny ones. In the
reading modes the page is laid out at the width of the device instead. In every mode, a page's
ban on zooming (``user-scalable=no``, ``maximum-scale``) is lifted: readers must be able to
enlarge what they read (WCAG 1.4.4). The proxy's ``<meta>`` comes last in the head, and the
last one is the one browsers follow.
"""

from __future__ import annotations

import re
from typing import Final

#: The viewport of every reading mode.
DEVICE_WIDTH: Final = "width=device-width, initial-scale=1"
_ITEM: Final = re.compile(r"\s*([^=,;\s]+)\s*(?:=\s*([^,;]*?))?\s*(?:[,;]|$)")
_LOCKS: Final = frozenset({"user-scalable", "maximum-scale"})


def for_mode(page_viewport: str | None, *, reading: bool) -> str | None:
    """The viewport ``<meta>`` content the proxy adds, or None to leave the page's own."""
    if reading:
        return DEVICE_WIDTH
    if page_viewport is None:
        return None
    return unlocked(page_viewport)


def unlocked(content: str) -> str | None:
    """``content`` without what stops a reader from zooming; None when it has no such part."""
    kept: list[str] = []
    locked = False
    for match in _ITEM.finditer(content):
        name, value = match.group(1).lower(), match.group(2)
        if name in _LOCKS:
            locked = True
        elif name:
            kept.append(name if value is None else f"{name}={value.strip()}")
    return ", ".join(kept) if locked else None
