"""The proxy's own error pages: short, plain words, accessible, no internal detail (pure)."""

from __future__ import annotations

from html import escape

from proxy.errors import ProxyError


def prefers_ukrainian(accept_language: str | None) -> bool:
    """Whether the browser's first language is Ukrainian."""
    first = (accept_language or "").split(",")[0].split(";")[0].strip().lower()
    return first.startswith("uk")


def render(error: ProxyError, stylesheet: str, *, ukrainian: bool) -> str:
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
