"""The markup the proxy adds to a page for one mode: the toolbar, the <head> links (pure).

The toolbar holds the three controls of the original strip (large font, change to blue, change
to b/w) and a disclosure, a plain ``<details>``, with the rest: larger font, the normal version
and the link to this view. So it needs no JavaScript and takes four Tab stops at most before
the page's own content. Every control is a plain link to a mode link of the same page, so it
works without cookies too; the state of each control is announced with ``aria-current``.

On small screens the three controls show short labels ("A+", "Blue", "B/W") with the full
label still read out after them, so the toolbar keeps to one row. A link at the end of the page
leads back to the toolbar from anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Final

from proxy.rewriting.modes import LARGE, LARGER, Mode, Theme

#: Marks every element the proxy inserts, so a second rewrite can find and replace it.
MARK: Final = "data-a11y-proxy"
TOOLBAR_ID: Final = "a11y-proxy-toolbar"
RETURN_ID: Final = "a11y-proxy-return"
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
    more: str
    back: str
    #: Short forms shown on small screens, in the order large, blue, b/w, more.
    short: tuple[str, str, str, str]


LABELS: Final = {
    "en": Labels(
        region="Reading mode",
        large="large font",
        larger="larger font",
        blue="change to blue",
        bw="change to b/w",
        normal="normal version",
        share="link to this view",
        more="more settings",
        back="Reading mode settings",
        short=("A+", "Blue", "B/W", "More"),
    ),
    "uk": Labels(
        region="Режим читання",
        large="великий шрифт",
        larger="ще більший шрифт",
        blue="змінити на синій",
        bw="змінити на ч/б",
        normal="звичайна версія",
        share="посилання на цей вигляд",
        more="інші налаштування",
        back="Налаштування режиму читання",
        short=("A+", "Синій", "Ч/б", "Ще"),
    ),
}


def language(lang_attribute: str | None) -> str:
    """The toolbar language for a page's ``lang``: Ukrainian pages get Ukrainian labels."""
    primary = (lang_attribute or "").strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in LABELS else "en"


def mode_link(prefix: str, mode: Mode, target: str) -> str:
    """The shareable URL path of ``target`` (a path with query) shown in ``mode``."""
    return f"{prefix}view/{mode.token}{target}"


def share_link(prefix: str, mode: Mode, target: str) -> str:
    """The proxy's page that shows the mode link of ``target`` for copying."""
    return f"{prefix}share/{mode.token}{target}"


def _control(label: str, href: str, *, current: bool, kind: str, short: str | None = None) -> str:
    text = label
    if short is not None:
        # The short form is read out too: a voice user may say what they see.
        text = (
            f'<span class="a11y-toolbar__short">{short}</span> '
            f'<span class="a11y-toolbar__label">{label}</span>'
        )
    return (
        f'<li><a class="a11y-toolbar__control a11y-toolbar__control--{kind}" '
        f'href="{escape(href)}"{_CURRENT if current else ""}>{text}</a></li>'
    )


def toolbar(mode: Mode, target: str, lang: str, prefix: str) -> str:
    """The toolbar for a page at ``target`` (its plain path and query) in ``mode``."""
    code = language(lang)
    labels = LABELS[code]
    large, blue, bw, more = labels.short

    def link(to: Mode) -> str:
        return mode_link(prefix, to, target)

    strip = (
        _control(
            labels.large,
            link(mode.with_scale(LARGE)),
            current=mode.scale == LARGE,
            kind="large",
            short=large,
        )
        + _control(
            labels.blue,
            link(mode.with_theme(Theme.BLUE)),
            current=mode.theme == Theme.BLUE,
            kind="blue",
            short=blue,
        )
        + _control(
            labels.bw,
            link(mode.with_theme(Theme.BW)),
            current=mode.theme == Theme.BW,
            kind="bw",
            short=bw,
        )
    )
    panel = (
        _control(
            labels.larger,
            link(mode.with_scale(LARGER)),
            current=mode.scale == LARGER,
            kind="larger",
        )
        + _control(labels.normal, link(Mode()), current=mode.is_default, kind="normal")
        + _control(labels.share, share_link(prefix, mode, target), current=False, kind="share")
    )
    return (
        f'<nav id="{TOOLBAR_ID}" class="a11y-toolbar" {MARK}="toolbar" tabindex="-1" '
        f'aria-label="{labels.region}" lang="{code}"><ul class="a11y-toolbar__list">{strip}'
        '<li class="a11y-toolbar__more-item"><details class="a11y-toolbar__more">'
        '<summary class="a11y-toolbar__control a11y-toolbar__control--more">'
        f'<span class="a11y-toolbar__short">{more}</span> '
        f'<span class="a11y-toolbar__label">{labels.more}</span></summary>'
        f'<ul class="a11y-toolbar__panel">{panel}</ul></details></li></ul></nav>'
    )


def return_link(lang: str, page_url: str = "") -> str:
    """The link at the end of the page that leads back to the toolbar. ``page_url`` is the
    page's own, for a page whose ``<base>`` would make a bare fragment point elsewhere."""
    code = language(lang)
    back = LABELS[code].back
    # A landmark of its own, as the toolbar is: nothing of the proxy's lies outside one.
    return (
        f'<nav id="{RETURN_ID}" {MARK}="return" aria-label="{back}" lang="{code}">'
        f'<a href="{escape(page_url)}#{TOOLBAR_ID}">{back}</a></nav>'
    )


def head_links(stylesheet: str, canonical: str | None, viewport: str | None = None) -> str:
    """The mode stylesheet link, a canonical link for pages reached by a mode link, and the
    viewport the mode lays the page out in (None: the page's own)."""
    links = f'<link rel="stylesheet" href="{escape(stylesheet)}" {MARK}="stylesheet">'
    if canonical is not None:
        links += f'<link rel="canonical" href="{escape(canonical)}" {MARK}="canonical">'
    if viewport is not None:
        links += f'<meta name="viewport" content="{escape(viewport)}" {MARK}="viewport">'
    return links
