"""The reading mode a visitor asked for: a colour theme and a text scale.

A mode is parsed once, at the edge, from the cookie or a mode link. Parsing never fails:
anything that is not exactly one of the known tokens is the default mode, so hostile
input can neither raise nor travel further into pages or headers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class Theme(enum.StrEnum):
    DEFAULT = "default"
    BLUE = "blue"
    BW = "bw"


#: Text scales in percent. 150 is "large font"; 200 is the extra step (WCAG 1.4.4 asks for 200 %).
SCALES: Final = (100, 150, 200)
LARGE: Final = 150
LARGER: Final = 200

COOKIE_NAME: Final = "a11y_mode"


@dataclass(frozen=True, slots=True)
class Mode:
    theme: Theme = Theme.DEFAULT
    scale: int = 100

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale {self.scale!r} is not one of {SCALES}")

    @property
    def token(self) -> str:
        """The form used in cookies, mode links and stylesheet names, e.g. ``blue-150``."""
        return f"{self.theme.value}-{self.scale}"

    @property
    def is_default(self) -> bool:
        return self == DEFAULT

    @property
    def factor(self) -> str:
        """The scale as a CSS number: ``1``, ``1.5``, ``2``."""
        return f"{self.scale / 100:g}"

    def with_scale(self, scale: int) -> Mode:
        """Toggle: asking for the scale already in force goes back to 100 %."""
        return Mode(self.theme, 100 if self.scale == scale else scale)

    def with_theme(self, theme: Theme) -> Mode:
        """Toggle: choosing the active theme returns to the site's own colours."""
        return Mode(Theme.DEFAULT if self.theme == theme else theme, self.scale)

    @classmethod
    def parse(cls, raw: str | None) -> Mode:
        """The mode named by ``raw``, or the default mode for anything else."""
        if raw is None or len(raw) > _MAX_TOKEN:
            return DEFAULT
        return _BY_TOKEN.get(raw.strip().lower(), DEFAULT)

    @classmethod
    def from_token(cls, raw: str) -> Mode | None:
        """The mode named exactly by ``raw`` (a mode link segment), else None."""
        return _BY_TOKEN.get(raw)


DEFAULT: Final = Mode()
ALL_MODES: Final = tuple(Mode(theme, scale) for theme in Theme for scale in SCALES)
# A dict lookup is the whole parser: no regex, no allocation for hostile strings.
_BY_TOKEN: Final = {mode.token: mode for mode in ALL_MODES}
_MAX_TOKEN: Final = max(len(token) for token in _BY_TOKEN) + 8
