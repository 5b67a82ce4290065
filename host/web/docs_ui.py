"""``/schema``: the interactive API documentation (Swagger UI), served whole by the app itself.

Hospital networks are often cut off from the internet, and users paste bearer tokens into this
page: so nothing on it comes from elsewhere. Swagger UI's dist files come pinned with the
``swagger-ui-py`` package and are served from ``/schema/assets/`` (only the few the page uses);
the page starts the UI with a script of ours, not an inline one; and a Content-Security-Policy
lets the page load and call only this origin. Every ``/schema`` route is public and outside the
OpenAPI document (``guard.guard`` and ``app.check_routes`` pass it by path).
"""

from __future__ import annotations

import importlib.util
from html import escape
from pathlib import Path
from typing import Any

from litestar import Request, Router, get
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import FromPath
from litestar.response import File

from core.errors import ConfigurationError
from host.pluginapi import public

PATH = "/schema"
ASSETS = f"{PATH}/assets"
# this origin only; Swagger UI's stylesheet draws its icons from data: URIs (its inline styles are set
# through the DOM, which style-src does not restrict), so no inline script or style is admitted
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = [ResponseHeader(name="Content-Security-Policy", value=CSP),
           ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
           ResponseHeader(name="Referrer-Policy", value="no-referrer")]
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<script defer src="{assets}/swagger-ui-bundle.js"></script>
<script defer src="{assets}/shifo-docs.js"></script>
</head><body><div id="swagger-ui" data-spec="{spec}"></div></body></html>
"""


def swagger_ui_dist() -> Path:
    """Swagger UI's dist directory in the installed ``swagger-ui-py`` (found, not imported: its
    package code is for other frameworks)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        raise ConfigurationError("the swagger-ui-py package is missing: reinstall shifo")
    return Path(spec.origin).parent / "static"


_UI, _OURS = swagger_ui_dist(), Path(__file__).parent / "docs_assets"
FILES: dict[str, tuple[Path, str]] = {  # what the page loads, and nothing more
    "swagger-ui.css": (_UI, "text/css"),
    "swagger-ui-bundle.js": (_UI, "text/javascript"),
    "favicon-32x32.png": (_UI, "image/png"),
    "shifo-docs.js": (_OURS, "text/javascript"),
}


@get("/assets/{name:str}", opt=public(), include_in_schema=False, sync_to_thread=False,
     cache_control=CacheControlHeader(public=True, max_age=86400))
def asset(name: FromPath[str]) -> File:
    """One of the page's files (a day in caches: they change only with a release)."""
    found = FILES.get(name)
    if found is None:
        raise NotFoundException(f"no documentation asset {name!r}")
    directory, media_type = found
    return File(directory / name, media_type=media_type, content_disposition_type="inline")


class SwaggerPage(OpenAPIRenderPlugin):
    """The page at ``/schema`` (and ``/schema/swagger``): Swagger UI from this app's own files."""

    def __init__(self) -> None:
        super().__init__(path=["/swagger"], favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = f"{openapi_schema['info']['title']} API"
        return PAGE.format(title=escape(title), assets=ASSETS,
                           spec=escape(self.get_openapi_json_route(request))).encode()


def router() -> Router:
    """The router Litestar puts the OpenAPI document and the page on, with the assets added and
    the security headers on every answer under ``/schema``."""
    return Router(path=PATH, route_handlers=[asset], include_in_schema=False, response_headers=HEADERS)


RENDER_PLUGINS = [SwaggerPage()]
