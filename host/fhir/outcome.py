"""Errors under ``/fhir`` as FHIR ``OperationOutcome``: the host's problem details, re-dressed.

Every error of the app (the guard's 401/403, routing's 404/405, a handler's 400) is first a
problem detail (:mod:`host.web.problems`); for paths under ``/fhir`` :func:`from_problem` turns
it into an OperationOutcome with the same status and headers, so FHIR clients get one shape.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response

MEDIA_TYPE = "application/fhir+json"
PREFIX = "/fhir"

#: HTTP status -> OperationOutcome ``issue.code`` (value set ``issue-type``).
_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
          406: "not-supported", 409: "conflict", 413: "too-costly", 415: "not-supported", 422: "processing",
          423: "lock-error", 429: "throttled", 503: "transient"}


def is_fhir(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def outcome(status: int, diagnostics: str) -> dict[str, Any]:
    severity = "fatal" if status >= 500 else "error"
    code = _CODES.get(status, "exception" if status >= 500 else "processing")
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}]}


def from_problem(response: Response[Any]) -> Response[Any]:
    """The same answer as an OperationOutcome (``application/fhir+json``)."""
    body = response.content if isinstance(response.content, dict) else {}
    detail = str(body.get("detail") or body.get("title") or "error")
    if body.get("request_id"):
        detail = f"{detail} (request {body['request_id']})"
    status = response.status_code or 500
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    return Response(outcome(status, detail), status_code=status,
                    media_type=MEDIA_TYPE, headers=headers or None)


def json_response(content: dict[str, Any], status: int = 200) -> Response[bytes]:
    """A FHIR resource or Bundle as ``application/fhir+json``."""
    return Response(msgspec.json.encode(content), status_code=status, media_type=MEDIA_TYPE)
