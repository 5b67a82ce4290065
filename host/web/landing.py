"""``/``: where someone who typed the server's address lands. It says what this is and links the
API documentation, the FHIR capability statement and the health check: HTML for a browser, a
small JSON document for anything else. Public, so it carries no clinical data, no version and
no deployment detail, and loads nothing from elsewhere (no scripts, fonts or styles of others)."""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import MediaType, Request, Response, get, head

from host.pluginapi import public
from host.web.health import bodiless

LINKS = {
    "docs": ("/schema", "API documentation (OpenAPI)"),
    "fhir_metadata": ("/fhir/metadata", "FHIR capability statement"),
    "health": ("/health", "Health check"),
}
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shifo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}</style>
</head><body><h1>Shifo</h1><p>The health information system's API server.</p><ul>
{items}
</ul></body></html>
"""


def answer(request: Request[Any, Any, Any]) -> Response[Any]:
    """HTML when the caller prefers it (a browser's ``Accept``), else JSON; ``Vary`` says so to caches."""
    headers = {"Vary": "Accept"}
    if request.accept.best_match([MediaType.JSON, MediaType.HTML]) == MediaType.HTML:
        items = "\n".join(f'<li><a href="{escape(href)}">{escape(label)}</a></li>'
                          for href, label in LINKS.values())
        return Response(PAGE.format(items=items), media_type=MediaType.HTML, headers=headers)
    links = {name: {"href": href, "title": label} for name, (href, label) in LINKS.items()}
    return Response({"name": "Shifo", "links": links}, media_type=MediaType.JSON, headers=headers)


@get("/", opt=public(), tags=["about"], sync_to_thread=False)
def landing(request: Request[Any, Any, Any]) -> Response[Any]:
    """Links to the API documentation, the FHIR metadata and the health check."""
    return answer(request)


@head("/", opt=public(), tags=["about"], sync_to_thread=False)
def landing_head(request: Request[Any, Any, Any]) -> Response[None]:
    """``/`` without the body."""
    return bodiless(answer(request))


HANDLERS = [landing, landing_head]
