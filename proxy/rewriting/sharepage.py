"""The proxy's page for sharing a view: the mode link of one page, shown to be copied (pure).

"Link to this view" used to reload the page looking the same, so readers thought nothing had
happened. This page says what the link is, shows it as text that can be selected (and, where
script runs, copied with one button that says so aloud), and leads back to the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Final


@dataclass(frozen=True, slots=True)
class _Words:
    title: str
    explanation: str
    field: str
    copy: str
    copied: str
    failed: str
    back: str


_WORDS: Final = {
    "en": _Words(
        title="Link to this view",
        explanation=(
            "Anyone who opens this link sees the page as you see it now, in the same reading "
            "mode. Select the link and copy it, then send it or save it."
        ),
        field="The link",
        copy="Copy the link",
        copied="The link is copied.",
        failed="Copying did not work: select the link and copy it yourself.",
        back="Back to the page",
    ),
    "uk": _Words(
        title="Посилання на цей вигляд",
        explanation=(
            "Кожен, хто відкриє це посилання, побачить сторінку такою, як ви бачите її зараз, "
            "у тому самому режимі читання. Виділіть посилання і скопіюйте його, а потім "
            "надішліть або збережіть."
        ),
        field="Посилання",
        copy="Скопіювати посилання",
        copied="Посилання скопійовано.",
        failed="Скопіювати не вдалося: виділіть посилання і скопіюйте його самостійно.",
        back="Назад до сторінки",
    ),
}


def render(
    link: str, back: str, stylesheets: tuple[str, ...], script: str, *, ukrainian: bool
) -> str:
    """The page for ``link`` (the absolute mode link); ``back`` leads to the page itself."""
    lang = "uk" if ukrainian else "en"
    words = _WORDS[lang]
    sheets = "".join(f'<link rel="stylesheet" href="{escape(href)}">' for href in stylesheets)
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{words.title}</title>{sheets}"
        f'<script src="{escape(script)}" defer></script></head>'
        f'<body><main class="a11y-page a11y-share"><h1>{words.title}</h1>'
        f"<p>{words.explanation}</p>"
        f'<p><label for="a11y-share-link">{words.field}</label>'
        f'<input id="a11y-share-link" class="a11y-share__link" type="url" readonly '
        f'value="{escape(link)}"></p>'
        f'<p><button type="button" class="a11y-share__copy" hidden '
        f'data-copied="{escape(words.copied)}" data-failed="{escape(words.failed)}">'
        f"{words.copy}</button></p>"
        '<p class="a11y-share__status" role="status"></p>'
        f'<ul class="a11y-page__links"><li><a href="{escape(back)}">{words.back}</a></li></ul>'
        "</main></body></html>\n"
    )
