"""The proxy's own error pages: short, plain words, accessible, no internal detail (pure)."""

from __future__ import annotations

from html import escape
from typing import Protocol


class Explained(Protocol):
    """What a page needs of an error (:class:`proxy.server.errors.ProxyError` has it)."""

    @property
    def status(self) -> int: ...

    #: Plain words in English and Ukrainian.
    @property
    def title(self) -> tuple[str, str]: ...

    @property
    def explanation(self) -> tuple[str, str]: ...


def prefers_ukrainian(accept_language: str | None) -> bool:
    """Whether the browser ranks Ukrainian above English (RFC 9110 §12.5.4 weights)."""
    ranks: dict[str, tuple[float, int]] = {}
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.partition(";")
        primary = tag.strip().lower().split("-")[0]
        ranks.setdefault(primary, (_weight(params), -position))
    uk, en = ranks.get("uk"), ranks.get("en")
    return uk is not None and uk[0] > 0 and (en is None or uk > en)


def _weight(params: str) -> float:
    name, _, value = params.strip().partition("=")
    if name.strip().lower() != "q":
        return 1.0
    try:
        return float(value)
    except ValueError:
        return 0.0


def render(error: Explained, stylesheet: str, *, ukrainian: bool) -> str:
    index = 1 if ukrainian else 0
    lang = "uk" if ukrainian else "en"
    back = "Спробувати ще раз" if ukrainian else "Try again"
    home = "На головну" if ukrainian else "Go to the home page"
    title = escape(error.title[index])
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} ({error.status})</title>"
        f'<link rel="stylesheet" href="{escape(stylesheet)}"></head>'
        f'<body><main class="a11y-page"><h1>{title}</h1>'
        f"<p>{escape(error.explanation[index])}</p>"
        f'<p class="a11y-page__code">HTTP {error.status}</p>'
        f'<ul class="a11y-page__links"><li><a href="">{back}</a></li>'
        f'<li><a href="/">{home}</a></li></ul></main></body></html>\n'
    )
