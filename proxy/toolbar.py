"""The markup the proxy adds to a page for one mode: the toolbar and the <head> links (pure).

Every control is a plain link to a mode link of the same page, so it works without JavaScript
and without cookies; the state of each control is announced with ``aria-current``.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Final

from proxy.modes import LARGE, LARGER, Mode, Theme

#: Marks every element the proxy inserts, so a second rewrite can find and replace it.
MARK: Final = "data-a11y-proxy"
TOOLBAR_ID: Final = "a11y-proxy-toolbar"
_CURRENT: Final = ' aria-current="true"'


@dataclass(frozen=True, slots=True)
class Labels:
    region: str
    large: str
    larger: str
    blue: str
    bw: str
    normal: str
    share: str


LABELS: Final = {
    "en": Labels(
        region="Reading mode",
        large="large font",
        larger="larger font",
        blue="change to blue",
        bw="change to b/w",
        normal="normal version",
        share="link to this view",
    ),
    "uk": Labels(
        region="Режим читання",
        large="великий шрифт",
        larger="ще більший шрифт",
        blue="змінити на синій",
        bw="змінити на ч/б",
        normal="звичайна версія",
        share="посилання на цей вигляд",
    ),
}


def language(lang_attribute: str | None) -> str:
    """The toolbar language for a page's ``lang``: Ukrainian pages get Ukrainian labels."""
    primary = (lang_attribute or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in LABELS else "en"


def mode_link(prefix: str, mode: Mode, target: str) -> str:
    """The shareable URL path of ``target`` (a path with query) shown in ``mode``."""
    return f"{prefix}view/{mode.token}{target}"


def toolbar(mode: Mode, target: str, lang: str, prefix: str) -> str:
    """The toolbar for a page at ``target`` (its plain path and query) in ``mode``."""
    labels = LABELS[language(lang)]
    controls = (
        (labels.large, mode.with_scale(LARGE), mode.scale == LARGE, ""),
        (labels.larger, mode.with_scale(LARGER), mode.scale == LARGER, ""),
        (labels.blue, mode.with_theme(Theme.BLUE), mode.theme == Theme.BLUE, ""),
        (labels.bw, mode.with_theme(Theme.BW), mode.theme == Theme.BW, ""),
        (labels.normal, Mode(), mode.is_default, " a11y-toolbar__control--normal"),
        (labels.share, mode, False, " a11y-toolbar__control--share"),
    )
    items = "".join(
        f'<li><a class="a11y-toolbar__control{extra}" '
        f'href="{escape(mode_link(prefix, target_mode, target))}"'
        f"{_CURRENT if current else ''}>{label}</a></li>"
        for label, target_mode, current, extra in controls
    )
    return (
        f'<nav id="{TOOLBAR_ID}" class="a11y-toolbar" {MARK}="toolbar" '
        f'aria-label="{labels.region}" lang="{language(lang)}">'
        f'<ul class="a11y-toolbar__list">{items}</ul></nav>'
    )


def head_links(stylesheet: str, canonical: str | None) -> str:
    """The mode stylesheet link, and a canonical link for pages reached by a mode link."""
    links = f'<link rel="stylesheet" href="{escape(stylesheet)}" {MARK}="stylesheet">'
    if canonical is not None:
        links += f'<link rel="canonical" href="{escape(canonical)}" {MARK}="canonical">'
    return links
