"""``GET /schema/asyncapi.json``: the events' AsyncAPI document, public like the OpenAPI one.

Outside subscribers read it to learn the subjects, payloads and headers (``host.asyncapi``).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from host import asyncapi
from host.pluginapi import public
from host.settings import Settings


@get("/schema/asyncapi.json", opt=public(), include_in_schema=False, sync_to_thread=False)
def asyncapi_document(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The AsyncAPI 3.0 document of the event catalogue, for this deployment's subject prefix."""
    settings: Settings = request.app.state.settings
    return Response(asyncapi.encoded(settings.nats_prefix), media_type="application/json")
