"""The shapes the OpenAPI document states for what every route shares: the access token, the
``X-Facility`` header, and the error answers (RFC 9457 problem details; OperationOutcome on FHIR).

Written from the code that produces them (:mod:`host.web.problems`, :mod:`host.fhir.outcome`,
:mod:`host.web.guard`), so a client generated from the document parses every answer it can get.
"""

from __future__ import annotations

from typing import Any

from host.fhir import outcome
from host.web import problems

BEARER, REF = "bearerAuth", "#/components/schemas/"
PROBLEM, OUTCOME, FHIR_RESOURCE = "ProblemDetails", "OperationOutcome", "FhirResource"

SECURITY_SCHEMES = {BEARER: {
    "type": "http", "scheme": "bearer",
    "description": "The access token of `POST /api/v1/auth/login` (or `/login/eds`), sent as "
                   "`Authorization: Bearer <token>`. Tokens are issued per audience: a staff or operator "
                   "token for the staff and operator routes, a patient token for `/api/v1/patient/*` "
                   "(and a patient's own compartment in FHIR). Each operation says which it takes."}}

X_FACILITY = {
    "name": "X-Facility", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 64},
    "description": "The facility you act for (its id). Your roles there decide; may be left out only "
                   "when you hold roles at a single facility (else 403)."}

SCHEMAS: dict[str, Any] = {
    PROBLEM: {
        "type": "object", "title": "Problem details (RFC 9457)",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "Always `about:blank`: the status says what happened."},
            "title": {"type": "string", "description": "The status's short name."},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "What went wrong, in words for the user."},
            "instance": {"type": "string", "description": "The request's path."},
            "request_id": {"type": "string", "description": "The request's id (`X-Request-Id`)."},
            "errors": {"type": "array", "description": "Per field, for a value that does not fit.",
                       "items": {"$ref": f"{REF}ProblemError"}}}},
    "ProblemError": {
        "type": "object", "additionalProperties": True,
        "properties": {
            "field": {"type": "string", "description": "The field or parameter, dotted for nested fields."},
            "pointer": {"type": "string", "description": "A JSON Pointer (RFC 6901) into the body."},
            "message": {"type": "string"},
            "source": {"type": "string", "description": "`body`, `query`, `path` or `header`."}}},
    FHIR_RESOURCE: {
        "type": "object", "title": "FHIR R5 resource", "required": ["resourceType"],
        "description": "A resource, or a Bundle (`searchset` for searches and `$everything`, "
                       "`transaction-response` for a transaction), as FHIR R5 JSON.",
        "properties": {"resourceType": {"type": "string"}, "id": {"type": "string"},
                       "meta": {"type": "object"}}, "additionalProperties": True},
    OUTCOME: {
        "type": "object", "title": "FHIR OperationOutcome", "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string", "description": "FHIR `issue-type`, e.g. `forbidden`, "
                                                              "`not-found`, `invalid`, `transient`."},
                    "diagnostics": {"type": "string"}}}}}},
}

#: when each status is answered, for any route; a route's own words (``opt["errors"]``) come first
WHY = {
    400: "The request is malformed: a parameter of the wrong type or form, a NUL or non-UTF-8 byte, or "
         "a body that is not JSON. Nothing was written.",
    401: "No valid access token: none sent, or one forged, expired, revoked, or issued for another "
         "audience (a patient token on a staff route).",
    403: "Signed in, but not allowed here.",
    404: "No such record (an id in the path names nothing you may see).",
    406: "The `Accept` header admits neither `application/fhir+json` nor `application/json` (and no "
         "`_format=json` overrides it).",
    409: "A concurrent request changed the same record, or the request contradicts its current state "
         "(a stale version, a duplicate, a transition that no longer applies). Nothing was written: "
         "read it again and decide.",
    413: "The body is larger than the server accepts.",
    415: "The body is not `application/json`.",
    422: "Well-formed, but breaks a rule: a value out of range, a wrong check digit, or a combination "
         "of fields this operation refuses (see its description). `errors` names each field. Nothing "
         "was written.",
    423: "Sign-in is locked for a while after repeated failures; `Retry-After` says how long.",
    429: "Too many failed sign-ins; wait `Retry-After` seconds.",
    503: "The database or the message bus cannot be reached just now: retry after `Retry-After` seconds. "
         "Without `Retry-After` a change's outcome is unknown: read before sending it again.",
}
_HEADERS = {
    401: {"WWW-Authenticate": "`Bearer realm=\"shifo\"`"},
    423: {"Retry-After": "Seconds until sign-in is allowed again."},
    429: {"Retry-After": "Seconds to wait."},
    503: {"Retry-After": "Seconds to wait before retrying (absent when the outcome is unknown)."},
}


def error_response(status: int, why: str, *, fhir: bool) -> dict[str, Any]:
    """One documented error answer: a problem detail, or under ``/fhir`` an OperationOutcome."""
    media, schema = (outcome.MEDIA_TYPE, OUTCOME) if fhir else (problems.MEDIA_TYPE, PROBLEM)
    answer: dict[str, Any] = {"description": why,
                              "content": {media: {"schema": {"$ref": f"{REF}{schema}"}}}}
    if status in _HEADERS:
        answer["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                             for name, text in _HEADERS[status].items()}
    return answer
