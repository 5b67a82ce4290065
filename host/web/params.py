"""Path and query parameters the database can store, checked once for every route.

PostgreSQL refuses a NUL character in text, and so a ``%00`` in a search parameter or a path id
reached the database and ended as a 500. :func:`param_guard` refuses, with a 400 problem, a path
or query string that percent-decodes to a NUL or to bytes that are not UTF-8 (which covers the
UTF-8 form of lone surrogates such as ``%ED%A0%80``), as :mod:`host.web.jsoncheck` does for JSON
bodies. It runs before the guard, so neither a handler nor a refusal's audit entry sees them.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from core.errors import ShifoError


class MalformedParameter(ShifoError):
    status = 400
    title = "Malformed request parameter"


def unclean(raw: bytes) -> str | None:
    """Why a raw (percent-encoded) path or query string is refused, or None if it is clean."""
    if raw.isascii() and b"%" not in raw and b"\x00" not in raw:  # the common case: two C scans
        return None
    decoded = unquote_to_bytes(raw)
    if b"\x00" in decoded:
        return "contains a NUL character (%00)"
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8 text (or encodes an unpaired surrogate)"
    return None


def _path(scope: Scope) -> bytes:
    raw = scope.get("raw_path")
    if raw:
        return bytes(raw).split(b"?", 1)[0]
    return scope["path"].encode("utf-8", "surrogatepass")


def param_guard(app: ASGIApp) -> ASGIApp:
    """Middleware: a 400 problem for a path or query string that is not clean text (module doc)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            if why := unclean(_path(scope)):
                raise MalformedParameter(f"the path {why}")
            if why := unclean(scope.get("query_string", b"")):
                raise MalformedParameter(f"the query string {why}")
        await app(scope, receive, send)

    return middleware
