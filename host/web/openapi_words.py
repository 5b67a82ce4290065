"""The words of the OpenAPI document that come from a route's declarations: its summary and
description (the handler's docstring), who may call it, and when it answers 403 (see
:mod:`host.web.openapi_doc`)."""

from __future__ import annotations

import re
from inspect import cleandoc
from typing import Any

from litestar.handlers import HTTPRouteHandler
from litestar.utils.helpers import unwrap_partial

from host.fhir import engine, outcome
from host.pluginapi import Permission

_FHIR_TEXT = {  # what a FHIR operation built per type does (the routes are closures without the type)
    "search": "A `searchset` Bundle of the {type} resources the caller may read, in pages (`_count`).",
    "read": "One {type} resource, with `ETag` and `Last-Modified`; `If-None-Match` naming it answers 304.",
    "vread": "One version of a {type} resource (`_history/{{vid}}`).",
}


def own_text(handler: HTTPRouteHandler) -> str:
    """The handler's description or docstring, reStructuredText literals as Markdown code."""
    text = handler.description or cleandoc(unwrap_partial(handler.fn).__doc__ or "")
    return re.sub(r"``([^`]+)``", r"`\1`", text).strip()


def first_sentence(text: str, limit: int = 90) -> str:
    """A summary from a docstring: its first sentence, to its first clause if that is long."""
    first = re.split(r"\.\s+(?=[A-Z`])", text.split("\n\n", 1)[0].replace("\n", " "), maxsplit=1)[0]
    first = first.rstrip(".").strip()
    clause = re.split(r"; |: | \(|, ", first, maxsplit=1)[0]
    if len(first) > limit and len(clause.split()) >= 3:
        first = clause
    return first if len(first) <= limit else first[: limit - 1].rsplit(" ", 1)[0] + "…"


def access(perm: Any, handler: HTTPRouteHandler, authorizer: Any) -> str:
    """Who may call the operation, in words, from its declared permission."""
    if not isinstance(perm, Permission):
        return "**Access:** public: no token needed."
    if "who" in handler.opt:  # the FHIR facade: what its providers really admit
        return f"**Access:** {handler.opt['who']} (permission: {handler.opt.get('permissions', '')})."
    if perm.principal == "patient":
        return "**Access:** a patient account (the patient app's token), for the caller's own record only."
    if perm.principal == "operator":
        return "**Access:** an operator account (the platform's integrator); no clinical data."
    roles = ", ".join(sorted(authorizer.roles_for(perm.object, perm.action))) or "no role"
    where = (f" at the facility they act for, where the `{perm.object.partition('.')[0]}` module is "
             "installed" if perm.facility_scoped else "")
    return f"**Access:** staff holding `{perm.action}` on `{perm.object}` ({roles}){where}."


def forbidden(perm: Permission, fhir: bool) -> str:
    if fhir and perm.patients:
        return ("Your roles at the facility you act for (`X-Facility`) allow no module serving this type, "
                "or no facility was chosen; or a patient account has no PINFL on record.")
    if perm.principal == "staff" and perm.facility_scoped:
        return (f"Your roles at the facility you act for (`X-Facility`) do not allow `{perm.action}` on "
                f"`{perm.object}`, its module is not installed there, no facility was chosen, or the "
                "token is not a staff account's.")
    return f"The token is not a{'n' if perm.principal[0] in 'aeiou' else ''} {perm.principal} account's."


def staff_search_rule(handler: HTTPRouteHandler, path: str, method: str) -> str:
    """The FHIR search rule the engine enforces for staff (400): clinical types name a patient."""
    name = handler.name or ""
    type_ = path.removeprefix(outcome.PREFIX + "/")
    if method != "get" or not name.endswith("-search") or type_ in engine.UNCONFINED:
        return ""
    named = ("`patient=Patient/<id>`, an `identifier`, or `family` together with `birthdate`"
             if type_ == "Patient" else "`patient=Patient/<id>`, or an `identifier` where the type has one")
    return (f"**Staff must name the patient:** {named} (a {type_} search across all patients is "
            "refused with 400); a patient's token searches their own compartment.")


def fhir_text(handler: HTTPRouteHandler) -> str:
    """What a FHIR operation built per type does, from its route name ``fhir-<Type>-<interaction>``."""
    parts = (handler.name or "").split("-")
    return _FHIR_TEXT.get(parts[-1], "").format(type=parts[1]) if len(parts) == 3 else ""
