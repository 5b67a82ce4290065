"""``create_app(settings)``: the one composition root of a Shifo deployment."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from litestar import Litestar, Request, Router
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.routes import HTTPRoute

from core.errors import ConfigurationError
from core.principals import Principal
from host import audit
from host.console_web import web as console_web
from host.fhir import web as fhir_web
from host.operator import logs
from host.operator import metrics as operator_metrics
from host.operator import web as operator_web
from host.pluginapi import Context, Permission
from host.runtime import Runtime
from host.settings import Settings
from host.web import accounts, asyncapi_route, auth, docs_ui, guard, health, landing, problems
from host.web import patient as patient_web
from host.web.body import body_guard
from host.web.guard import bearer_token, client_of
from host.web.openapi_doc import DocumentJson
from host.web.params import param_guard

API = "/api/v1"
try:
    VERSION = version("shifo")  # the package's, as the hookspecs' "Since" notes count it
except PackageNotFoundError:  # run from a checkout that is not installed
    VERSION = "0.0.0"


def create_app(settings: Settings | None = None, *, extra_plugins: dict[str, Any] | None = None,
               runtime: Runtime | None = None) -> Litestar:
    """Build the app; configuration errors (unknown module or adapter, a module without what it
    requires, a route without a permission, a bad policy) raise here, before serving."""
    settings = settings or Settings.from_env()
    runtime = runtime or Runtime.plan(settings, extra_plugins)
    routers = [
        Router(path=f"{API}/{info.name}", route_handlers=handlers, tags=[info.name])
        for info, handlers in runtime.modules.route_handlers() if handlers
    ]
    routers.append(patient_router(runtime))
    routers.append(Router(path="/fhir", route_handlers=fhir_web.handlers(runtime, settings), tags=["fhir"]))
    app = Litestar(
        route_handlers=[*landing.HANDLERS, *health.HANDLERS, operator_metrics.metrics,
                        auth.router, accounts.router,
                        operator_web.router, asyncapi_route.asyncapi_document, *routers,
                        console_web.router()],
        template_config=console_web.template_config(),  # the operator console's pages (Jinja2)
        dependencies={"ctx": Provide(provide_context, sync_to_thread=False)},
        exception_handlers=problems.HANDLERS,
        before_request=guard.before_request,  # admits the caller before the body is read
        # the first gives the request its id; the second refuses NUL or non-UTF-8 path and query
        middleware=[operator_metrics.middleware, param_guard, body_guard],
        on_startup=[runtime.start],
        on_shutdown=[runtime.stop],
        openapi_config=OpenAPIConfig(title="Shifo", version=VERSION, path="/schema",
                                     render_plugins=[*docs_ui.RENDER_PLUGINS, DocumentJson()],
                                     openapi_router=docs_ui.router()),
        request_max_body_size=settings.max_body_bytes,
        cors_config=cors_config(settings),
        logging_config=None,  # ours: JSON lines (host.operator.logs), set up by whoever serves the app
        state=State({"runtime": runtime, "settings": settings}),
        debug=False,
    )
    check_routes(app)
    return app


def cors_config(settings: Settings) -> CORSConfig | None:
    """Browsers on ``SHIFO_CORS_ORIGINS`` may call the API (bearer tokens, never cookies, so no
    credentials mode); unset, no CORS headers at all (docs/deployment.md)."""
    if not settings.cors_origins:
        return None
    return CORSConfig(allow_origins=list(settings.cors_origins), allow_methods=["*"],
                      allow_headers=["Authorization", "Content-Type", "X-Facility", "X-Request-Id",
                                     "If-Match", "Last-Event-ID"],
                      expose_headers=["ETag", "Location", "Link", "Retry-After", "WWW-Authenticate",
                                      "Content-Disposition", "X-Request-Id"],
                      max_age=600)


def serve_app() -> Litestar:
    """The app as ``shifo serve`` runs it in each worker process: JSON logs, then ``create_app``.
    (Worker processes are started afresh by uvicorn, so each sets up its own logging.)"""
    logs.configure()
    app = create_app()
    freeze_heap()
    return app


def freeze_heap() -> None:
    """Take what start-up built (modules, tables, routes, schemas: over 100k objects) out of the
    cycle collector's reach. A full collection walks every object; over that heap it paused a
    worker for ~130 ms now and then, which was the p99 of a quiet server. A serving process only."""
    gc.collect()
    gc.freeze()


def patient_router(runtime: Runtime) -> Router:
    """The patient app's API: the host's routes and each module's part of the patient's record."""
    contributed = [h for _, handlers in runtime.modules.patient_routes() for h in handlers]
    return Router(path=f"{API}/patient", route_handlers=[*patient_web.HANDLERS, *contributed],
                  tags=["patient"])


def check_routes(app: Litestar) -> None:
    """Deny by default: refuse to start if any route declares no permission, or replaces the
    guard with a before-request hook of its own (Litestar keeps only the nearest one)."""
    missing = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        for handler in route.route_handlers:
            if handler.http_methods == {"OPTIONS"}:  # Litestar's automatic OPTIONS answer
                continue
            if handler.resolve_before_request() is not guard.before_request:
                raise ConfigurationError(f"{route.path} sets its own before_request hook, which would "
                                         "replace the host's guard: remove it")
            perm = handler.opt.get("permission")
            if perm != "public" and not isinstance(perm, Permission):
                missing.append(f"{'/'.join(sorted(handler.http_methods))} {route.path}")
            elif route.path.startswith(f"{API}/patient/") and getattr(perm, "principal", "") != "patient":
                raise ConfigurationError(f"{route.path} is in the patient app's API but is not for "
                                         "patients: declare opt=own_record(object)")
    if missing:
        raise ConfigurationError("routes without a declared permission: " + ", ".join(missing)
                                 + ". Add opt=requires(object, action) or opt=public().")


def provide_context(request: Request[Any, Any, Any]) -> Context:
    runtime: Runtime = request.app.state.runtime
    state = request.scope.get("state", {})
    perm = request.route_handler.opt.get("permission")  # its object's namespace is the route's module
    module = perm.object.partition(".")[0] if isinstance(perm, Permission) else ""
    principal = state.get("principal")
    return Context(
        principal=principal, facility=state.get("facility"), storage=runtime.storage,
        services=runtime.services, request_id=state.get("request_id", ""),
        client=request.client.host if request.client else "", trail=audit.TRAIL,
        settings=runtime.modules.settings(module),
        session_check=_session_check(runtime, request, principal) if principal else None,
        permits=_permits(runtime, principal, state.get("facility")))


def _permits(runtime: Runtime, principal: Principal | None, facility: str | None
             ) -> Callable[[str, str], Awaitable[bool]]:
    """``ctx.may(object, action)``: the guard's rule (``guard._decide``) for another permission."""

    async def may(object: str, action: str) -> bool:
        if principal is None or principal.kind != "staff" or facility is None:
            return False
        roles = principal.roles_at(facility)
        return (bool(roles) and runtime.authorizer.allows(roles, facility, object, action)
                and await runtime.module_enabled(facility, object.partition(".")[0]))

    return may


def _session_check(runtime: Runtime, request: Request[Any, Any, Any], principal: Principal
                   ) -> Callable[[], Awaitable[bool]]:
    """``ctx.signed_in()``: the same token lookup the guard made, asked again later."""
    token, client = bearer_token(request) or "", client_of(request)
    audience = "patient" if principal.kind == "patient" else "staff"

    async def check() -> bool:
        return await runtime.identity.authenticate(token, audience, client) is not None

    return check
