"""Layout fixture pages: the layouts of real sites, built on real CSS frameworks.

The reading modes break on layouts more than on markup: words broken into letters in narrow
table columns, sideways scrolling at 320 CSS px, transparent overlays painted opaque, boxes of
fixed height cutting off text that grew, the toolbar covering links positioned at the top of
the page. Each page in ``tests/layouts/`` reproduces some of these patterns (``LAYOUT_PAGES``
says which) and looks right as its site would serve it.

The pages are written for this project. The CSS frameworks they are built on (Bootstrap, GOV.UK
Frontend, USWDS) are the real ones, installed by ``npm ci`` from ``package-lock.json`` and
served from ``node_modules`` under ``/vendor/``. GOV.UK Frontend's CSS asks for its fonts and
images at ``/assets/``, where every GOV.UK service serves them, so they are served there too.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

import pytest
from aiohttp import web

PAGES_DIR: Final = Path(__file__).parent / "layouts"
NODE_MODULES: Final = Path(__file__).resolve().parent.parent / "node_modules"

#: Each page by its path on the fixture site, for what it brings.
LAYOUT_PAGES: Final[dict[str, str]] = {
    "/bootstrap-dashboard.html": (
        "Bootstrap grid: navbar, sidebar col-md-3 beside col-md-9, a statistics table with "
        "a narrow Year column and 5-7 digit numbers, cards of figures"
    ),
    "/bootstrap-news.html": (
        "Bootstrap row-cols news grid: cards of fixed height with overflow hidden, titles "
        "clamped to 2 lines, teasers to 3, author lines in 20 px boxes"
    ),
    "/govuk-service.html": (
        "GOV.UK Frontend service page: template, header, phase banner, summary list, text "
        "inputs, radios, a date input of narrow fields, button, footer with the crest"
    ),
    "/uswds-landing.html": (
        "USWDS landing page: official-website banner, header with nav, hero headline over "
        "a background image, grid-row/grid-col cards, footer and identifier"
    ),
    "/ministry-fixed-uk.html": (
        "Ukrainian ministry, no lang, no viewport: fixed 1024 px page of three floats, a "
        "language link absolutely positioned at the top, an uppercase menu of fixed-width "
        "items, a table with a narrow year column, 12-14 px text"
    ),
    "/patterns-en.html": (
        "Hand-written patterns: zoom disabled, sticky header, fixed cookie banner, a "
        "transparent overlay over a player, line clamps, a 20 px author box, focus rings "
        "removed, a long URL and a long word, flex article and aside"
    ),
}

#: URL prefix -> folder under node_modules. Only the built CSS and what it references is
#: linked from the pages; the frameworks' JavaScript is never used.
VENDOR: Final[dict[str, str]] = {
    "/vendor/bootstrap/css": "bootstrap/dist/css",
    "/vendor/govuk-frontend": "govuk-frontend/dist/govuk",
    "/assets": "govuk-frontend/dist/govuk/assets",
    "/vendor/uswds": "@uswds/uswds/dist",
}


def create_layouts_app(*, node_modules: Path = NODE_MODULES) -> web.Application:
    """The fixture site: every page of ``LAYOUT_PAGES``, its images and the frameworks' files.

    Fails the test when ``node_modules`` lacks a framework: ``npm ci`` installs them.
    """
    folders = {prefix: node_modules / folder for prefix, folder in VENDOR.items()}
    for folder in folders.values():
        if not folder.is_dir():
            pytest.fail(
                f"{folder} is missing: run npm ci in the checkout to install the frameworks"
            )
    app = web.Application()
    app.router.add_get("/{name}.html", _page)
    app.router.add_static("/img", PAGES_DIR / "img")
    for prefix, folder in folders.items():
        app.router.add_static(prefix, folder)
    return app


async def _page(request: web.Request) -> web.Response:
    path = request.path
    if path not in LAYOUT_PAGES:
        raise web.HTTPNotFound()
    body = await asyncio.to_thread((PAGES_DIR / path.lstrip("/")).read_bytes)
    return web.Response(body=body, content_type="text/html", charset="utf-8")
