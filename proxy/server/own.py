"""The proxy's own resources under its prefix: the mode stylesheets, the page that shows a
mode link for copying, and the files those pages use.

The mode links themselves (``view/<mode>/...``) are the site's pages and go through the
pipeline; statistics, metrics and health checks are routed beside it (see
:mod:`proxy.server.app`).
"""

from __future__ import annotations

from typing import Final

from aiohttp import hdrs, web

from proxy.rewriting import errorpage, sharepage, toolbar
from proxy.rewriting.assets import Stylesheets
from proxy.rewriting.links import LinkMap
from proxy.rewriting.modes import COOKIE_NAME, DEFAULT, Mode
from proxy.server.config import Settings
from proxy.server.errors import ClientError

_ONE_YEAR: Final = 365 * 24 * 3600


class OwnResources:
    def __init__(self, settings: Settings, links: LinkMap, stylesheets: Stylesheets) -> None:
        self.settings = settings
        self.links = links
        self.stylesheets = stylesheets

    def answer(self, request: web.Request, rest: str) -> web.StreamResponse:
        """The resource ``rest`` names (the path after the prefix); a 404 if none."""
        kind, _, tail = rest.partition("/")
        if kind in ("css", "keep") and request.method in (hdrs.METH_GET, hdrs.METH_HEAD):
            return self._stylesheet(tail.partition("?")[0], remember=kind == "keep")
        if kind == "share" and request.method in (hdrs.METH_GET, hdrs.METH_HEAD):
            token, _, target = tail.partition("/")
            return self._share(request, Mode.from_token(token) or DEFAULT, "/" + target)
        if rest.partition("?")[0] == "page.css":
            return self._css(self.stylesheets.page, immutable=True)
        if rest.partition("?")[0] == "share.js":
            return self._file(self.stylesheets.share_script, "application/javascript")
        raise ClientError(404, "no such proxy resource")

    def _stylesheet(self, name: str, *, remember: bool) -> web.Response:
        mode = Mode.from_token(name.removesuffix(".css"))
        if mode is None or not name.endswith(".css"):
            raise ClientError(404, "no such stylesheet")
        response = self._css(self.stylesheets.by_token[mode.token], immutable=not remember)
        if remember:
            # Loaded by pages reached through a mode link: opening one remembers its mode,
            # while the page itself stays free of Set-Cookie and so cacheable by URL.
            self.set_mode_cookie(response, mode)
        return response

    def _css(self, body: bytes, *, immutable: bool) -> web.Response:
        return self._file(body, "text/css", immutable=immutable)

    def _file(self, body: bytes, content_type: str, *, immutable: bool = True) -> web.Response:
        response = web.Response(body=body, content_type=content_type, charset="utf-8")
        response.headers[hdrs.CACHE_CONTROL] = (
            f"public, max-age={_ONE_YEAR}, immutable" if immutable else "no-store"
        )
        return response

    def _share(self, request: web.Request, mode: Mode, target: str) -> web.Response:
        """The page that shows the mode link of ``target`` for copying."""
        prefix = self.settings.prefix
        view = toolbar.mode_link(prefix, mode, target)
        version = self.stylesheets.version
        html = sharepage.render(
            self.links.public_origin + view,
            view,
            (f"{prefix}page.css?v={version}", self.stylesheets.href(prefix, mode)),
            f"{prefix}share.js?v={version}",
            ukrainian=errorpage.prefers_ukrainian(request.headers.get(hdrs.ACCEPT_LANGUAGE)),
        )
        return web.Response(
            text=html,
            content_type="text/html",
            charset="utf-8",
            headers={hdrs.CACHE_CONTROL: "no-store"},
        )

    def set_mode_cookie(self, response: web.StreamResponse, mode: Mode) -> None:
        if mode.is_default:
            response.del_cookie(
                COOKIE_NAME, path="/", secure=self.settings.secure, httponly=True, samesite="Lax"
            )
            return
        response.set_cookie(
            COOKIE_NAME,
            mode.token,
            path="/",
            max_age=_ONE_YEAR,
            secure=self.settings.secure,
            httponly=True,
            samesite="Lax",
        )
