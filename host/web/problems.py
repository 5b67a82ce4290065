"""Every error is an RFC 9457 problem detail (``application/problem+json``), never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError, DBAPIError

from core.errors import ShifoError
from host.fhir import outcome as fhir_outcome
from host.operator.logs import request_id_of
from host.web import unreachable
from ports import conflicts

log = logging.getLogger("shifo.web")
MEDIA_TYPE = "application/problem+json"

_TITLES = {400: "Bad request", 401: "Authentication required", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 413: "Request body too large",
           415: "Unsupported media type", 422: "Validation failed", 423: "Locked",
           429: "Too many requests", 500: "Internal server error", 503: "Service unavailable"}


def problem(status: int, detail: str, *, title: str | None = None, instance: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"type": "about:blank", "title": title or _TITLES.get(status, "Error"),
                            "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v})
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _request_id(request: Request[Any, Any, Any]) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return str(value) if value else None


def on_shifo_error(request: Request[Any, Any, Any], exc: ShifoError) -> Response[dict[str, Any]]:
    retry = getattr(exc, "retry_after", None)  # Unavailable: when to try again
    return problem(exc.status, exc.detail, title=exc.title, instance=request.url.path,
                   errors=exc.errors, request_id=_request_id(request),
                   headers=None if retry is None else {"Retry-After": str(retry)})


def on_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    """Litestar's own checks (query, path, header values; DTO bodies): 400, or 422 for a body
    that parsed but does not fit; each error names its ``field`` (JSON bodies are checked
    earlier, in :mod:`host.web.body`, with the same shape)."""
    errors = [_litestar_error(e) for e in exc.extra] if isinstance(exc.extra, list) else []
    body = bool(errors) and all(e.get("source") == "body" for e in errors)
    status = 422 if body else 400
    return problem(status, str(exc.detail), title=_TITLES.get(status), instance=request.url.path,
                   errors=errors, request_id=_request_id(request))


def _litestar_error(error: Any) -> dict[str, Any]:
    if not isinstance(error, dict):
        return {"message": str(error)}
    out = dict(error)
    key = str(error.get("key", ""))
    if key:
        out["field"] = key
        if error.get("source") == "body":
            out["pointer"] = "#/" + key.replace("~", "~0").replace("/", "~1").replace(".", "/")
    return out


def on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    headers = dict(exc.headers or {})
    return problem(exc.status_code, str(exc.detail), instance=request.url.path, headers=headers or None,
                   request_id=_request_id(request))


def bad_data(exc: BaseException) -> str | None:
    """Why the database refused a value (SQLSTATE class 22 "data exception": a NUL or a number out
    of range, raised by PostgreSQL or by asyncpg as it encodes; SQLite's ``OverflowError``), or
    None. A safety net: input should be checked before it reaches the database."""
    if isinstance(exc, OverflowError):
        return "a number in the request is out of range"
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if isinstance(exc, DataError) or (isinstance(exc, DBAPIError) and str(sqlstate or "").startswith("22")):
        return "the database refused a value of the request as invalid or out of range"
    return None


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if conflicts.busy(exc):  # SQLite locked past its busy timeout outside run_unit: a read, say
        return on_shifo_error(request, unreachable.busy(exc))
    if conflicts.conflicting(exc):  # a unique violation or a deadlock outside run_unit: 409
        log.warning("a lost race escaped its unit of work on %s %s (%s): answering 409; "
                    "run the unit with ports.conflicts.run_unit", request.method, request.url.path,
                    type(getattr(exc, "orig", None) or exc).__name__)
        return problem(409, "a concurrent request changed the same record; read it again and retry",
                       instance=request.url.path, request_id=_request_id(request))
    if unreachable.lost(exc):  # the storage adapter raises Unavailable; this is a safety net
        return on_shifo_error(request, unreachable.unavailable(exc))
    if (why := bad_data(exc)) is not None:
        cause = str(getattr(exc, "orig", None) or exc).split("\n", 1)[0][:200]  # no SQL, no parameters
        log.warning("bad data reached the database on %s %s: %s", request.method, request.url.path, cause)
        return problem(400, why, instance=request.url.path, request_id=_request_id(request))
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "An unexpected error occurred; it has been logged.",
                   instance=request.url.path, request_id=_request_id(request))


def _fhir_aware(handler: Any) -> Any:
    """Under ``/fhir`` the same answer as a FHIR OperationOutcome (see :mod:`host.fhir.outcome`)."""

    def handle(request: Request[Any, Any, Any], exc: Any) -> Response[Any]:
        response: Response[Any] = handler(request, exc)
        return fhir_outcome.from_problem(response) if fhir_outcome.is_fhir(request.url.path) else response

    return handle


def _identified(handler: Any) -> Any:
    """A request that routing refused (404 for an unknown path, 405 for a wrong method) never
    reached the middleware that gives each request its id: give it one here, in the body and in
    ``X-Request-Id``, like every other answer."""

    def handle(request: Request[Any, Any, Any], exc: Any) -> Response[Any]:
        state = request.scope.setdefault("state", {})
        fresh = not state.get("request_id")
        if fresh:
            state["request_id"] = request_id_of(request.scope)
        response: Response[Any] = handler(request, exc)
        if fresh:
            response.headers["X-Request-Id"] = state["request_id"]
        return response

    return handle


HANDLERS: dict[type[Exception] | int, Any] = {exc: _identified(_fhir_aware(handler)) for exc, handler in {
    ShifoError: on_shifo_error,
    ValidationException: on_validation,
    HTTPException: on_http,
    Exception: on_unexpected,
}.items()}
