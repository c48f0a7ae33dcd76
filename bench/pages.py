"""The pages the benchmark serves: synthetic ministry-like HTML, made the same way every run.

Each page has what makes the proxy work: a ``<style>`` block and ``style=""`` attributes with px
font sizes, absolute links and images (``srcset`` too) on the upstream origin, navigation,
tables and a news list. Only the length of the news list differs between the sizes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from html import escape
from typing import Final

ORIGIN_PLACEHOLDER: Final = "%%ORIGIN%%"


@dataclass(frozen=True, slots=True)
class Size:
    name: str
    path: str
    #: What the page should weigh, in bytes; the result is within a news item of it.
    target: int
    label: str


SIZES: Final = (
    Size("small", "/small.html", 4_000, "5 KB"),
    Size("medium", "/news/medium.html", 50_000, "50 KB"),
    Size("large", "/news/large.html", 300_000, "300 KB"),
    Size("xlarge", "/archive/xlarge.html", 1_500_000, "1.5 MB"),
)
BLOB_PATH: Final = "/files/report.bin"
BLOB_BYTES: Final = 10 * 1024 * 1024

# The filler text's vocabulary.
_VOCABULARY: Final = (
    "ministry health regional order public service hospital report budget clinic patient "
    "national programme vaccination statistics annual planning reform community support "
    "medical staff equipment procurement citizens consultation office decree schedule "
    "primary care emergency funding centre district review open data access"
)
_WORDS: Final = tuple(_VOCABULARY.split())

_STYLE: Final = """
body { font-family: Arial, sans-serif; font-size: 14px; line-height: 18px; margin: 0; }
h1 { font-size: 28px; margin: 12px 0; } h2 { font-size: 20px; } h3 { font-size: 16px; }
.top-nav a { font-size: 13px; padding: 4px 8px; } .crumbs { font-size: 11px; }
.news-item .date { font-size: 11px; color: #777; } .news-item p { font-size: 13px; }
table.stats td, table.stats th { font-size: 12px; padding: 2px 6px; }
footer { font-size: 11px; background: #eee; } .bvi-open { font-size: 12px; }
"""


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _news_item(rng: random.Random, number: int) -> str:
    title = escape(_sentence(rng, 6))
    paragraphs = "".join(
        f'<p style="font-size: 13px; margin: 4px 0">{escape(_sentence(rng, 24))}</p>'
        for _ in range(2)
    )
    image = f"{ORIGIN_PLACEHOLDER}/img/news-{number}.jpg"
    return (
        f'<article class="news-item" id="n{number}">'
        f'<h3><a href="{ORIGIN_PLACEHOLDER}/news/{number}.html">{title}</a></h3>'
        f'<span class="date" style="font-size:11px">2024-0{1 + number % 9}-1{number % 10}</span>'
        f'<img src="{image}" srcset="{image} 1x, {ORIGIN_PLACEHOLDER}/img/news-{number}@2x.jpg 2x" '
        f'alt="{title}" width="120" height="80">'
        f"{paragraphs}"
        f'<a class="more" href="{ORIGIN_PLACEHOLDER}/news/{number}.html#full">Read more</a>'
        f"</article>\n"
    )


def _table(rng: random.Random) -> str:
    rows = "".join(
        f"<tr><td>{escape(rng.choice(_WORDS).title())}</td>"
        f"<td>{rng.randint(10, 9999)}</td><td>{rng.randint(0, 100)}%</td></tr>"
        for _ in range(8)
    )
    return (
        '<table class="stats"><caption>Regional figures</caption>'
        f"<tr><th>Region</th><th>Cases</th><th>Share</th></tr>{rows}</table>\n"
    )


def page(size: Size) -> str:
    """The page of ``size``, with ``%%ORIGIN%%`` where the upstream origin goes."""
    rng = random.Random(size.name)  # noqa: S311 - deterministic filler text, not security
    nav = "".join(
        f'<li><a href="{ORIGIN_PLACEHOLDER}/{section}/">{section.title()}</a></li>'
        for section in ("about", "news", "documents", "statistics", "contacts", "feedback")
    )
    head = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Ministry of Health: {size.label} page</title>"
        f'<link rel="stylesheet" href="{ORIGIN_PLACEHOLDER}/css/site.css">'
        f'<link rel="icon" href="{ORIGIN_PLACEHOLDER}/favicon.png">'
        f"<style>{_STYLE}</style>"
        f'<script src="{ORIGIN_PLACEHOLDER}/js/site.js" defer></script></head>\n'
    )
    top = (
        '<body><header class="site-header">'
        f'<a href="{ORIGIN_PLACEHOLDER}/"><img src="{ORIGIN_PLACEHOLDER}/img/logo.svg" '
        'alt="Ministry of Health" width="180" height="48"></a>'
        '<a class="bvi-open" href="#">Version for the visually impaired</a>'
        f'<nav class="top-nav"><ul>{nav}</ul></nav></header>\n'
        '<main><p class="crumbs">Home / News</p>'
        f'<h1 style="font-size: 28px">News of the ministry ({size.label})</h1>\n'
    )
    bottom = (
        "</main>\n"
        '<footer><p style="font-size:11px">© Ministry of Health. '
        f'<a href="{ORIGIN_PLACEHOLDER}/contacts/">Contacts</a></p></footer>'
        "</body></html>\n"
    )
    parts = [head, top, _table(rng)]
    length = sum(len(part) for part in parts) + len(bottom)
    number = 0
    while length < size.target:
        item = _news_item(rng, number)
        if number % 25 == 24:
            item += _table(rng)
        parts.append(item)
        length += len(item)
        number += 1
    parts.append(bottom)
    return "".join(parts)


def page_bytes(size: Size, origin: str) -> bytes:
    """The page as the upstream at ``origin`` (``http://host:port``) sends it."""
    return page(size).replace(ORIGIN_PLACEHOLDER, origin).encode("utf-8")


def blob() -> bytes:
    """The binary file streamed through: 10 MiB that do not compress, the same every run."""
    return random.Random(BLOB_PATH).randbytes(BLOB_BYTES)  # noqa: S311
