"""Hostile request bodies end as a 4xx problem detail, never a 5xx, and before a handler runs.

Litestar alone answers 500 to a body nested 1,000 deep or not UTF-8, keeps the last of duplicate
keys and lets a JSON route accept ``text/plain``. :func:`body_guard` wraps ``receive`` so that when
a handler first reads the body (after the guard: anonymous callers are refused without it being
read) the whole body is read within the route's size limit (413, chunked or not), its media type
checked (415), and a JSON body checked by :func:`host.web.jsoncheck.inspect_json` -- strictly
against the handler's ``data`` type -- before it is handed on, unchanged.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

import msgspec
from litestar.enums import RequestEncodingType, ScopeType
from litestar.types import ASGIApp, HTTPRequestEvent, Receive, ReceiveMessage, Scope, Send

from core.errors import ShifoError
from host.web.jsoncheck import MalformedBody, inspect_json


class BodyTooLarge(ShifoError):
    status = 413
    title = "Request body too large"


class UnsupportedMediaType(ShifoError):
    status = 415
    title = "Unsupported media type"


class _Route(NamedTuple):
    takes_json: bool  # the handler's ``data`` is a JSON body
    required: bool
    decoder: msgspec.json.Decoder[Any] | None
    limit: int | None


_ROUTES: WeakKeyDictionary[Any, _Route] = WeakKeyDictionary()
_NO_ROUTE = _Route(False, False, None, None)


def _route(handler: Any) -> _Route:
    if handler is None:
        return _NO_ROUTE
    try:
        known = _ROUTES.get(handler)
    except TypeError:  # Litestar's generated OPTIONS handler has slots and no weak reference
        return _describe(handler)
    if known is None:
        known = _ROUTES[handler] = _describe(handler)
    return known


def _describe(handler: Any) -> _Route:
    data = handler.parsed_fn_signature.parameters.get("data")
    raw = data is None or data.annotation in (bytes, bytearray)
    media = None if raw else getattr(data.kwarg_definition, "media_type", RequestEncodingType.JSON)
    takes_json = media == RequestEncodingType.JSON
    decoder = None
    if takes_json and handler.resolve_data_dto() is None:
        try:
            decoder = msgspec.json.Decoder(data.annotation, strict=True)
        except (TypeError, ValueError):  # a type msgspec cannot decode alone: checks without it
            decoder = None
    required = takes_json and not (data.is_optional or data.has_default)
    return _Route(takes_json, required, decoder, handler.resolve_request_max_body_size())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    main = content_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or (main.startswith("application/") and main.endswith("+json"))


async def _read(receive: Receive, limit: int | None) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise MalformedBody("the client went away before the body was complete")
        chunk = message["body"]
        size += len(chunk)
        if limit is not None and size > limit:
            raise BodyTooLarge(f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _checked(scope: Scope, receive: Receive, route: _Route, content_type: str | None) -> Receive:
    done = False

    async def checked_receive() -> ReceiveMessage:
        nonlocal done
        if done:
            return await receive()
        done = True
        wrong_type = route.takes_json and content_type and not _is_json(content_type)
        if wrong_type:
            raise UnsupportedMediaType(f"send this body as application/json, not {content_type}")
        announced = _header(scope, b"content-length")
        if announced is not None and route.limit is not None and announced.isdigit() \
                and int(announced) > route.limit:
            raise BodyTooLarge(f"the body exceeds the limit of {route.limit} bytes")
        body = await _read(receive, route.limit)
        if not body:
            if route.required:
                raise MalformedBody("the body is empty; this route expects a JSON document")
        elif route.takes_json and content_type is None:
            raise UnsupportedMediaType("say what the body is: Content-Type: application/json")
        else:
            inspect_json(body, route.decoder)
        whole: HTTPRequestEvent = {"type": "http.request", "body": body, "more_body": False}
        return whole

    return checked_receive


def body_guard(app: ASGIApp) -> ASGIApp:
    """Middleware: check a JSON body when the handler first reads it (see the module's doc)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            route = _route(scope.get("route_handler"))
            content_type = _header(scope, b"content-type")
            if route.takes_json or _is_json(content_type):
                receive = _checked(scope, receive, route, content_type)
        await app(scope, receive, send)

    return middleware
