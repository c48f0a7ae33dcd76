"""The proxy's own stylesheets: one composed sheet per mode, built once at start-up.

Installed, the files of ``stylesheets/`` live inside the package; in a source checkout they are
the top-level folder. Each mode's sheet is the toolbar styles, the theme, the readability rules
and a generated tail that sets the text scale, so a page links exactly one sheet of ours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Final

from proxy.modes import ALL_MODES, Mode, Theme
from proxy.toolbar import MARK

_THEME_FILES: Final = {Theme.BLUE: "theme-blue.css", Theme.BW: "theme-bw.css"}


def stylesheets_dir() -> Path:
    installed = Path(str(files("proxy"))) / "stylesheets"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "stylesheets"


def _tail(mode: Mode) -> str:
    lines = [f"[{MARK}-hidden]{{display:none!important}}"]
    if mode.scale != 100:
        lines.append(f":root{{--a11y-scale:{mode.factor}}}")
        # Zero specificity: a page's own (rewritten) root font size still wins over this.
        lines.append(":where(html){font-size:calc(100% * var(--a11y-scale))}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Stylesheets:
    """Composed CSS per mode token, the proxy's page CSS, and a version for cache busting."""

    by_token: dict[str, bytes]
    page: bytes
    version: str

    @classmethod
    def load(
        cls, directory: Path | None = None, extra: Callable[[Mode], str] | None = None
    ) -> Stylesheets:
        """``extra`` gives CSS to append per mode, after ours: the site tuning's."""
        directory = directory or stylesheets_dir()

        def read(name: str) -> str:
            return (directory / name).read_text(encoding="utf-8")

        toolbar, readable = read("toolbar.css"), read("readable.css")
        by_token: dict[str, bytes] = {}
        for mode in ALL_MODES:
            parts = [toolbar]
            if mode.theme in _THEME_FILES:
                parts.append(read(_THEME_FILES[mode.theme]))
            if not mode.is_default:
                parts.append(readable)
            parts.append(_tail(mode))
            if extra is not None:
                parts.append(extra(mode))
            by_token[mode.token] = "\n".join(parts).encode()
        page = read("proxy-page.css").encode()
        digest = hashlib.sha256(b"".join([*by_token.values(), page])).hexdigest()[:12]
        return cls(by_token, page, digest)

    def href(self, prefix: str, mode: Mode, *, remember: bool = False) -> str:
        """The sheet's URL. ``remember``: the variant that also sets the mode cookie."""
        kind = "keep" if remember else "css"
        return f"{prefix}{kind}/{mode.token}.css?v={self.version}"
