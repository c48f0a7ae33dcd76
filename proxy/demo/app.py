"""The bundled demo ministry site, so the proxy can be tried offline.

A small static site with the habits of a real CMS that the proxy has to cope with: absolute
links to its own origin (pages say ``%%ORIGIN%%``, filled in per request), cache headers, a
legacy page served in windows-1251, and a feedback form that posts back.

Pages are stored as UTF-8 and encoded on serve in the charset their ``<meta charset>``
declares. Paths with a segment starting with ``_`` or ``.`` are never served: ``_templates/``
holds the 404 and thank-you pages.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final

from aiohttp import hdrs, web

SITE_ROOT: Final = Path(__file__).parent / "site"
SITE_ROOT_KEY: Final = web.AppKey("site_root", Path)

ORIGIN_PLACEHOLDER: Final = "%%ORIGIN%%"
NAME_PLACEHOLDER: Final = "%%NAME%%"

HTML_CACHE_CONTROL: Final = "max-age=60"
ASSET_CACHE_CONTROL: Final = "max-age=3600"

# Only these kinds of file are served; anything else under the root stays private.
ASSET_TYPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        ".css": "text/css; charset=utf-8",
        ".js": "application/javascript; charset=utf-8",
        ".svg": "image/svg+xml",
        ".png": "image/png",
    }
)

_META_CHARSET: Final = re.compile(r"""<meta\s+charset=["']?([\w-]+)""", re.IGNORECASE)
_DEFAULT_CHARSET: Final = "utf-8"


def create_demo_app(*, site_root: Path = SITE_ROOT) -> web.Application:
    """The demo site as an application of its own, to run beside the proxy.

    ``site_root`` is for tests, which serve a small tree of their own.
    """
    app = web.Application()
    app[SITE_ROOT_KEY] = site_root.resolve()
    app.router.add_post("/feedback", _feedback)
    app.router.add_get("/{tail:.*}", _serve)
    return app


async def _serve(request: web.Request) -> web.StreamResponse:
    found = await asyncio.to_thread(_find, request.app[SITE_ROOT_KEY], request.match_info["tail"])
    if found is None:
        return await _not_found(request)
    path, st = found
    if stat.S_ISDIR(st.st_mode):
        # As web servers do, so that relative links on the index page resolve inside the folder.
        url = request.rel_url
        raise web.HTTPMovedPermanently(url.with_path(url.path + "/").with_query(url.query))
    if path.suffix == ".html":
        return await _page(request, path, st)
    content_type = ASSET_TYPES.get(path.suffix)
    if content_type is None:
        return await _not_found(request)
    # FileResponse brings Last-Modified, ETag, conditional requests and ranges.
    return web.FileResponse(
        path,
        headers={hdrs.CONTENT_TYPE: content_type, hdrs.CACHE_CONTROL: ASSET_CACHE_CONTROL},
    )


def _find(root: Path, tail: str) -> tuple[Path, os.stat_result] | None:
    """The file or folder that a URL path names under ``root`` (resolved), with its stat."""
    if tail == "" or tail.endswith("/"):
        tail += "index.html"
    # Refuse suspicious segments outright (an empty one would make the path absolute), then
    # check the resolved path too: a symlink that passes the first check still cannot leave
    # the root.
    segments = tail.split("/")
    if any(segment == "" or segment.startswith((".", "_")) for segment in segments):
        return None
    if "\\" in tail or "\x00" in tail:
        return None
    path = root.joinpath(*segments).resolve()
    if not path.is_relative_to(root):
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return None
    return path, st


async def _page(request: web.Request, path: Path, st: os.stat_result) -> web.StreamResponse:
    modified_since = request.if_modified_since
    if modified_since is not None and int(st.st_mtime) <= modified_since.timestamp():
        not_modified = web.Response(status=304)
        not_modified.last_modified = st.st_mtime
        not_modified.headers[hdrs.CACHE_CONTROL] = HTML_CACHE_CONTROL
        return not_modified
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    response = _html_response(request, text)
    response.last_modified = st.st_mtime
    response.headers[hdrs.CACHE_CONTROL] = HTML_CACHE_CONTROL
    return response


async def _not_found(request: web.Request) -> web.Response:
    text = await _template(request, "404.html")
    return _html_response(request, text, status=404)


async def _feedback(request: web.Request) -> web.Response:
    form = await request.post()
    name = form.get("name")
    shown = name.strip() if isinstance(name, str) else ""
    text = await _template(request, "feedback-thanks.html")
    response = _html_response(request, text, fields={NAME_PLACEHOLDER: shown or "visitor"})
    # A personal answer to a POST: no cache may keep it.
    response.headers[hdrs.CACHE_CONTROL] = "no-store"
    return response


async def _template(request: web.Request, name: str) -> str:
    path = request.app[SITE_ROOT_KEY] / "_templates" / name
    return await asyncio.to_thread(path.read_text, encoding="utf-8")


def _html_response(
    request: web.Request,
    text: str,
    *,
    status: int = 200,
    fields: Mapping[str, str] | None = None,
) -> web.Response:
    """A page with its placeholders filled in, encoded in the charset the page declares.

    The origin goes in first, so that a submitted field quoting a placeholder stays literal.
    """
    text = text.replace(ORIGIN_PLACEHOLDER, html.escape(str(request.url.origin())))
    for placeholder, value in (fields or {}).items():
        text = text.replace(placeholder, html.escape(value))
    match = _META_CHARSET.search(text)
    charset = match.group(1).lower() if match else _DEFAULT_CHARSET
    return web.Response(
        body=text.encode(charset), status=status, content_type="text/html", charset=charset
    )
