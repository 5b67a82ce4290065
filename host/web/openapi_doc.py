"""``/schema/openapi.json`` as the API really is: Litestar's document, completed from the same route
declarations the guard enforces, so the two cannot drift apart.

For every operation, from its handler: the security (the declared permission: the bearer token,
or ``security: []`` for a route declared ``public()``; ``x-shifo-permission`` names it), the
``X-Facility`` header where the facility is chosen from it (facility-scoped staff routes and FHIR),
the error answers it can give (:func:`errors`: problem details, OperationOutcome under ``/fhir``,
instead of Litestar's generic ``400 application/json``), a summary and a description (the
handler's own, and who may call it). A route adds statuses of its own with ``opt["errors"]``
(``{423: "why"}``) and keeps the responses it declares with Litestar's ``responses=``.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.routes import HTTPRoute

from host.fhir import outcome
from host.pluginapi import Permission
from host.web import openapi_rules, openapi_shapes
from host.web import openapi_words as words
from host.web.openapi_shapes import BEARER, FHIR_RESOURCE, REF, WHY, X_FACILITY, error_response

METHODS = ("get", "put", "post", "patch", "delete", "head")
READS = {"get", "head"}


def document(app: Litestar) -> dict[str, Any]:
    """The app's OpenAPI document, completed (a new dict on each call)."""
    doc = app.openapi_schema.to_schema()
    routes = handlers(app)
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {}).update(openapi_shapes.SCHEMAS)
    components["securitySchemes"] = dict(openapi_shapes.SECURITY_SCHEMES)
    openapi_rules.apply(components["schemas"])
    authorizer = app.state.runtime.authorizer
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                complete(path, method, item[method], routes[path, method.upper()], authorizer)
    doc["security"] = [{BEARER: []}]  # the default; public operations say ``security: []``
    return doc


def handlers(app: Litestar) -> dict[tuple[str, str], HTTPRouteHandler]:
    """(path as the document writes it, method) -> the route handler answering it."""
    return {(route.path_format or "/", method): handler
            for route in app.routes if isinstance(route, HTTPRoute)
            for method, (handler, _) in route.route_handler_map.items()}


def complete(path: str, method: str, op: dict[str, Any], handler: HTTPRouteHandler, authorizer: Any) -> None:
    perm = handler.opt.get("permission")
    fhir = outcome.is_fhir(path)
    params = op.get("parameters") or []
    if takes_facility(perm, fhir):
        op["parameters"] = params = [*params, X_FACILITY]
    if isinstance(perm, Permission):
        op["security"] = [{BEARER: []}]
        op["x-shifo-permission"] = {"object": perm.object, "action": perm.action, "principal": perm.principal,
                                    "facilityScoped": perm.facility_scoped, "patients": perm.patients}
    else:
        op["security"] = []
    text = words.own_text(handler)
    op["summary"] = handler.summary or words.first_sentence(text) or op.get("summary", "")
    if not text and fhir:
        text = words.fhir_text(handler)
    extra = [words.access(perm, handler, authorizer), words.staff_search_rule(handler, path, method)]
    op["description"] = "\n\n".join(x for x in (text, *extra) if x)
    if fhir:  # FHIR answers are resources as application/fhir+json (``outcome.json_response``)
        for answer in op.get("responses", {}).values():
            if answer.get("content"):
                answer["content"] = {outcome.MEDIA_TYPE: {"schema": {"$ref": f"{REF}{FHIR_RESOURCE}"}}}
    declared = {str(s) for s in (handler.responses or {})}
    kept = {s: r for s, r in op.get("responses", {}).items() if s[0] in "123" or s in declared}
    body = "requestBody" in op
    wanted = errors(perm, handler, path, method, params, body)
    for status in sorted(wanted):
        kept.setdefault(str(status), error_response(status, wanted[status], fhir=fhir))
    if fhir and (handler.name or "").endswith("-read"):  # :func:`host.fhir.web._resource`
        kept.setdefault("304", {"description": "Not modified: `If-None-Match` names the current version."})
    op["responses"] = dict(sorted(kept.items()))


def takes_facility(perm: Any, fhir: bool) -> bool:
    """Where the facility a staff caller acts for is read from ``X-Facility``: the guard, for a
    facility-scoped staff route; the FHIR facade (:mod:`host.fhir.access`), for every staff caller."""
    return isinstance(perm, Permission) and perm.principal == "staff" and (perm.facility_scoped or fhir)


def errors(perm: Any, handler: HTTPRouteHandler, path: str, method: str, params: list[dict[str, Any]],
           body: bool) -> dict[int, str]:
    """Status -> when, for every error answer the operation can give."""
    fhir = outcome.is_fhir(path)
    where = {p.get("in") for p in params}
    secured = isinstance(perm, Permission)
    out: dict[int, str] = {}
    if where - {"header"} or body or fhir:
        out[400] = WHY[400]
    if secured:
        out[401] = WHY[401]
        if perm.principal != "patient":  # a non-patient token on a patient route is a 401 (audience)
            out[403] = words.forbidden(perm, fhir)
    if "path" in where:
        out[404] = WHY[404]
    if fhir:
        out[406] = WHY[406]
    if secured and method not in READS:
        out[409] = WHY[409]
    if body:
        out.update({413: WHY[413], 415: WHY[415], 422: WHY[422]})
    elif "query" in where and not fhir:
        out[422] = WHY[422]
    if secured or path.startswith("/api/"):  # the guard reads the identity store; sign-in audits
        out[503] = WHY[503]
    out.update(handler.opt.get("errors") or {})
    return out


class DocumentJson(JsonRenderPlugin):
    """Serves :func:`document` at ``/schema/openapi.json``, built on the first request."""

    def __init__(self) -> None:
        super().__init__()
        self._rendered: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            self._rendered = self.render_json(request, document(request.app))
        return self._rendered
