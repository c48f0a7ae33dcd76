"""The proxy's own stylesheets: one composed sheet per mode, built once at start-up.

Installed, the files of ``stylesheets/`` live inside the package; in a source checkout they are
the top-level folder. Each mode's sheet is the toolbar styles, the colour scheme (its palette
and the rules every scheme shares), the readability rules and a generated tail that sets the
text scale, so a page links exactly one sheet of ours.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Final

from proxy.rewriting.modes import ALL_MODES, Mode, Theme
from proxy.rewriting.toolbar import MARK

#: Each colour scheme: its palette, then the rules every scheme shares.
PALETTES: Final = {Theme.BLUE: "palette-blue.css", Theme.BW: "palette-bw.css"}
SCHEME_RULES: Final = "theme.css"


def stylesheets_dir() -> Path:
    installed = Path(str(files("proxy"))) / "stylesheets"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "stylesheets"  # a checkout: at its top


#: The reflow rules apply below this many px of the mode's text: 60 em.
REFLOW_EM: Final = 60
#: The toolbar's full labels need this many px per 100 % of text, in Ukrainian (the longer).
TOOLBAR_FULL_PX: Final = {100: 820, 150: 1000, 200: 1080}
#: Below this height the toolbar is compact whatever the width (a window zoomed to 400 %).
TOOLBAR_SHORT_PX: Final = 480


def _narrow(mode: Mode, reflow: str) -> str:
    """The reflow rules, for windows narrow for the mode's text size."""
    width = REFLOW_EM * 16 * mode.scale // 100
    return f"@media (max-width: {width - 0.02}px) {{\n{reflow}\n}}\n"


def _compact(mode: Mode, compact: str) -> str:
    """The small-screen toolbar, where its full labels would not fit on one row."""
    width = TOOLBAR_FULL_PX[mode.scale]
    return (
        f"@media (max-width: {width - 0.02}px), (max-height: {TOOLBAR_SHORT_PX - 0.02}px) "
        f"{{\n{compact}\n}}\n"
    )


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
    #: The copy button of the page that shares a view (the only script of the proxy's own).
    share_script: bytes
    version: str

    @classmethod
    def load(
        cls, directory: Path | None = None, extra: Callable[[Mode], str] | None = None
    ) -> Stylesheets:
        """``extra`` gives CSS to append per mode, after ours: the site tuning's."""
        directory = directory or stylesheets_dir()

        def read(name: str) -> str:
            return (directory / name).read_text(encoding="utf-8")

        toolbar, readable, reflow = read("toolbar.css"), read("readable.css"), read("reflow.css")
        compact, focus = read("toolbar-compact.css"), read("focus.css")
        by_token: dict[str, bytes] = {}
        for mode in ALL_MODES:
            parts = [toolbar, _compact(mode, compact)]
            if mode.theme in PALETTES:
                parts += (read(PALETTES[mode.theme]), read(SCHEME_RULES))
            if mode.is_default:
                parts.append(focus)
            else:
                parts += (readable, _narrow(mode, reflow))
            parts.append(_tail(mode))
            if extra is not None:
                parts.append(extra(mode))
            by_token[mode.token] = "\n".join(parts).encode()
        page = read("proxy-page.css").encode()
        share = read("share.js").encode()
        digest = hashlib.sha256(b"".join([*by_token.values(), page, share])).hexdigest()[:12]
        return cls(by_token, page, share, digest)

    def href(self, prefix: str, mode: Mode, *, remember: bool = False) -> str:
        """The sheet's URL. ``remember``: the variant that also sets the mode cookie."""
        kind = "keep" if remember else "css"
        return f"{prefix}{kind}/{mode.token}.css?v={self.version}"
