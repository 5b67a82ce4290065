"""The module contract as plain checks: each returns the problems it found, one sentence each.

They read a module the way the host sees it: the app built with and without it (routes, their
declared permissions), its hooks' answers through :class:`host.modules.Modules`, and its Alembic
revisions. :mod:`host.testing.module_kit` runs them as pytest cases.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute

from core.principals import CLINICAL_ROLES
from host.modules import Modules
from host.pluginapi import Permission

API = "/api/v1"
#: parameter names that would let a caller choose whose record a patient route reads
PATIENT_KEYS = frozenset({"patient", "patient_id", "patientid", "pinfl", "patient_pinfl", "person",
                          "person_id", "subject", "account", "account_id", "user_id"})


def handlers(app: Litestar) -> dict[tuple[str, str], tuple[HTTPRoute, Any]]:
    """Every (method, path) of the app with its route and handler (Litestar's OPTIONS answers left out)."""
    found: dict[tuple[str, str], tuple[HTTPRoute, Any]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in handler.http_methods - {"OPTIONS"}:
                    found[(str(method), route.path)] = (route, handler)
    return found


def added(app: Litestar, base: Litestar) -> list[tuple[tuple[str, str], tuple[HTTPRoute, Any]]]:
    """The (method, path) routes ``app`` has and ``base`` has not, sorted, with route and handler."""
    before = handlers(base)
    return sorted((key, found) for key, found in handlers(app).items() if key not in before)


def declared(modules: Modules, name: str) -> set[tuple[str, str]]:
    return {(a.object, a.action) for info, acts in modules.actions() if info.name == name for a in acts}


def own(modules: Modules, hook: str, name: str) -> list[Any]:
    """What module ``name`` answered to a list-valued hook (``actions``, ``policies``, ...)."""
    return [x for info, got in getattr(modules, hook)() if info.name == name for x in got]


def identity_problems(modules: Modules, name: str) -> list[str]:
    info = next((m.info for m in modules.enabled if m.info.name == name), None)
    if info is None:
        return [f"{name!r} is not among the loaded modules"]
    problems = []
    if not (name.isascii() and name.isidentifier() and name.islower()):
        problems.append(f"module name {name!r} must be lower-case ASCII letters, digits and '_' "
                        "(it is a URL segment and a permission namespace)")
    if not info.title.strip() or not info.version.strip():
        problems.append(f"{name}: ModuleInfo needs a title and a version")
    return problems


def policy_problems(modules: Modules, name: str) -> list[str]:
    """Policy lines only for the four clinical roles, only on the module's own declared actions."""
    mine, problems = declared(modules, name), []
    for rule in own(modules, "policies", name):
        line = f"{rule.role}, {rule.object}, {rule.action}"
        if rule.role not in CLINICAL_ROLES:
            problems.append(f"policy line '{line}' grants to {rule.role!r}: only "
                            f"{', '.join(sorted(CLINICAL_ROLES))} may receive module permissions")
        if (rule.object, rule.action) not in mine:
            problems.append(f"policy line '{line}' names an action the module did not declare")
    return problems


def consumer_problems(modules: Modules, base: Modules, name: str) -> list[str]:
    """Event consumers are named ``<module>.<what>``: the name keys the idempotency record and the
    failed-deliveries list, so two modules must never share one."""
    before = {h.consumer for h in base.event_handlers()}
    return [f"event consumer {h.consumer!r} must be named {name}.<what>" for h in modules.event_handlers()
            if h.consumer not in before and not h.consumer.startswith(f"{name}.")]


def route_problems(app: Litestar, base: Litestar, modules: Modules, name: str) -> list[str]:
    """Every route the module adds is under its mount (or the patient API / FHIR), declares a
    permission of its own namespace that it declared, and staff routes are for staff."""
    mine, problems = declared(modules, name), []
    for (method, path), (_, handler) in added(app, base):
        where, perm = f"{method} {path}", handler.opt.get("permission")
        if path.startswith("/fhir/") or path == "/fhir":
            continue  # the host's FHIR facade, built from the module's declared resources
        if not path.startswith((f"{API}/{name}/", f"{API}/patient/")) and path != f"{API}/{name}":
            problems.append(f"{where} is outside the module's mount {API}/{name}/")
        if not isinstance(perm, Permission):
            problems.append(f"{where} declares no permission: opt=requires(object, action) "
                            f"({'public() is for the host' if perm == 'public' else 'missing'})")
            continue
        if not perm.object.startswith(f"{name}."):
            problems.append(f"{where} needs {perm.object}, outside the module's namespace {name}.*")
        elif perm.principal != "patient" and (perm.object, perm.action) not in mine:
            problems.append(f"{where} needs {perm.object}/{perm.action}, which the module did not declare")
        if path.startswith(f"{API}/{name}") and perm.principal != "staff":
            problems.append(f"{where} is a module route for {perm.principal!r} accounts: module routes "
                            "are for staff; patients get shifo_patient_routes")
    return problems


def patient_route_problems(app: Litestar, base: Litestar, name: str) -> list[str]:
    """Patient routes are reads confined to the caller: ``own_record(object)``, no body, and no
    parameter that could name another patient."""
    problems = []
    for (method, path), (route, handler) in added(app, base):
        if not path.startswith(f"{API}/patient/"):
            continue
        where, perm = f"{method} {path}", handler.opt.get("permission")
        if not (isinstance(perm, Permission) and perm.principal == "patient" and perm.action == "read"
                and not perm.facility_scoped):
            problems.append(f"{where} must declare opt=own_record(object)")
        if method not in ("GET", "HEAD"):
            problems.append(f"{where}: a patient route only reads (GET)")
        for param, field in handler.parsed_fn_signature.parameters.items():
            kwarg = field.kwarg_definition
            aliases = (getattr(kwarg, k, None) for k in ("query", "header"))
            names = {param.lower(), *(str(a).lower() for a in aliases if a)}
            if names & PATIENT_KEYS:
                problems.append(f"{where} takes {param!r} from the request: a patient route reads only "
                                "ctx.patient")
            if param == "data" or type(kwarg).__name__ == "BodyKwarg":
                problems.append(f"{where} reads a request body")
        problems += [f"{where} has path parameter {p!r}: read only ctx.patient"
                     for p in route.path_parameters if p.lower() in PATIENT_KEYS]
    return problems
