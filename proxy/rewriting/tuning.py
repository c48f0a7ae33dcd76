"""Site tuning: what an operator adjusts for one site without code, and reloads without a restart.

The ``[tuning]`` table of the configuration file::

    [tuning]
    hide = [".cookie-banner"]          # hidden in every mode, in addition to the built-in list
    neutralise = [".carousel"]         # in reading modes: no motion, no overlay

    [tuning.toolbar]
    position = "top"                   # or "bottom": last element of <body>
    languages = ["uk", "en"]           # label languages; pages in others get the first

    [tuning.css]                       # extra CSS, appended after the proxy's own
    reading = ".layout { display: block }"

    [tuning.css_files]                 # the same, from files next to the configuration file
    blue = "site-blue.css"

Keys of ``css`` and ``css_files``, applied in this order: ``all`` (every mode, the site's own look
included), ``reading`` (every mode but the normal one), a theme (``default``, ``blue``, ``bw``)
and a mode token (``blue-150``). Everything is validated here, so a bad selector or a stray brace
is reported by ``--check-config`` with its key, not discovered by a reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import soupsieve
import tinycss2

from proxy.rewriting.modes import ALL_MODES, Mode, Theme
from proxy.rewriting.toolbar import LABELS

POSITIONS: Final = ("top", "bottom")
_GROUPS: Final = ("all", "reading", *(theme.value for theme in Theme))
_CSS_KEYS: Final = (*_GROUPS, *(mode.token for mode in ALL_MODES))
_TABLES: Final = ("hide", "neutralise", "toolbar", "css", "css_files")
# A neutralised element keeps its content but stops moving and stops covering the page.
_STILL: Final = (
    "animation:none!important;transition:none!important;transform:none!important;"
    "scroll-behavior:auto!important"
)
_IN_FLOW: Final = "position:static!important;inset:auto!important"


class TuningError(ValueError):
    """A bad tuning value; ``key`` is its dotted name inside ``[tuning]``."""

    def __init__(self, key: str, value: object, why: str) -> None:
        super().__init__(f"tuning.{key} = {value!r}: {why}")
        self.key = f"tuning.{key}"
        self.value = value
        self.why = why


@dataclass(frozen=True, slots=True)
class Tuning:
    """One site's adjustments, already validated."""

    #: Extra CSS as (key, text) pairs, in the order they are appended.
    css: tuple[tuple[str, str], ...] = ()
    hide: tuple[str, ...] = ()
    neutralise: tuple[str, ...] = ()
    toolbar_position: str = "top"
    languages: tuple[str, ...] = ("en", "uk")

    def css_for(self, mode: Mode) -> str:
        """What goes after the proxy's own stylesheet for ``mode``."""
        rules: list[str] = []
        if self.toolbar_position == "bottom":
            rules.append(":root{--a11y-toolbar-height:0px!important}")  # no room to make
        if self.hide:
            # The rewriter hides these too; the CSS also catches what scripts add later.
            rules.append(f"{', '.join(self.hide)}{{display:none!important}}")
        if self.neutralise and not mode.is_default:
            selectors = ", ".join(self.neutralise)
            inside = ", ".join(f"{one}, {one} *" for one in self.neutralise)
            rules.append(f"{selectors}{{{_IN_FLOW}}}")
            rules.append(f"{inside}{{{_STILL}}}")
        keys = {"all", mode.theme.value, mode.token} | (set() if mode.is_default else {"reading"})
        rules.extend(text for key, text in self.css if key in keys)
        return "\n".join(rules) + "\n" if rules else ""

    def language(self, page_lang: str) -> str:
        """The toolbar language for a page whose ``lang`` is ``page_lang``."""
        primary = page_lang.strip().lower().replace("_", "-").split("-")[0]
        return primary if primary in self.languages else self.languages[0]


def parse(table: Mapping[str, object], base: Path) -> Tuning:
    """The ``[tuning]`` table; file names in ``css_files`` are relative to ``base``."""
    for key in table:
        if key not in _TABLES:
            raise TuningError(key, table[key], f"unknown key; the keys are {', '.join(_TABLES)}")
    toolbar = _table(table, "toolbar")
    for key in toolbar:
        if key not in ("position", "languages"):
            raise TuningError(f"toolbar.{key}", toolbar[key], "unknown key")
    position = toolbar.get("position", "top")
    if position not in POSITIONS:
        raise TuningError("toolbar.position", position, "must be top or bottom")
    languages = _strings(toolbar, "languages", "toolbar.languages") or ("en", "uk")
    for lang in languages:
        if lang not in LABELS:
            raise TuningError("toolbar.languages", lang, f"must be one of {', '.join(LABELS)}")
    return Tuning(
        css=_css(table, base),
        hide=_selectors(table, "hide"),
        neutralise=_selectors(table, "neutralise"),
        toolbar_position=str(position),
        languages=tuple(dict.fromkeys(languages)),
    )


def _table(table: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = table.get(key, {})
    if not isinstance(value, Mapping):
        raise TuningError(key, value, "must be a table")
    return value


def _strings(table: Mapping[str, object], key: str, name: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TuningError(name, value, "must be a list of strings")
    return tuple(value)


def _selectors(table: Mapping[str, object], key: str) -> tuple[str, ...]:
    selectors = _strings(table, key, key)
    for selector in selectors:
        if not selector.strip() or any(c in selector for c in "{};<>\\"):
            raise TuningError(key, selector, "not a plain CSS selector")
        try:
            soupsieve.compile(selector)
        except soupsieve.SelectorSyntaxError as exc:
            raise TuningError(
                key, selector, f"not a valid CSS selector: {str(exc).splitlines()[0]}"
            ) from exc
    return selectors


def _css(table: Mapping[str, object], base: Path) -> tuple[tuple[str, str], ...]:
    texts: dict[str, list[str]] = {}
    for kind in ("css", "css_files"):
        for key, value in _table(table, kind).items():
            name = f"{kind}.{key}"
            if key not in _CSS_KEYS:
                raise TuningError(name, value, "must be all, reading, a theme or a mode token")
            if not isinstance(value, str):
                raise TuningError(name, value, "must be a string")
            text = value if kind == "css" else _read(name, base / value)
            _check_css(name, text)
            texts.setdefault(key, []).append(text)
    return tuple((key, text) for key in _CSS_KEYS for text in texts.get(key, ()))


def _read(name: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TuningError(name, str(path), f"cannot be read: {exc}") from exc


def _check_css(name: str, text: str) -> None:
    """Refuse CSS a browser would drop in part: the operator should hear of it now."""
    rules = tinycss2.parse_stylesheet(text, skip_comments=True, skip_whitespace=True)
    for rule in rules:
        if rule.type == "error":
            raise TuningError(name, _excerpt(text), f"invalid CSS at line {rule.source_line}")
        if rule.type == "qualified-rule":
            for item in tinycss2.parse_blocks_contents(rule.content, True, True):
                if item.type == "error":
                    raise TuningError(
                        name, _excerpt(text), f"invalid CSS at line {item.source_line}"
                    )


def _excerpt(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."
