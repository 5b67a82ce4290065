"""The one guard: every route declares its permission; the guard authenticates and decides.

Deny by default: a route without a declared permission never starts (see ``app.check_routes``)
and would be refused here anyway. 401 means "we don't know who you are" (no token, a forged,
expired or revoked one, or one issued for another audience such as the patient app); 403 means
"we do, and you may not". Tokens are re-checked on every request, so a suspension or a revoked
grant is felt at once. Every refusal is written to the audit trail.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from core.principals import Principal
from host import audit
from host.pluginapi import Permission
from host.runtime import Runtime

BEARER = "bearer "
CONSOLE, CONSOLE_COOKIE = "/console", "shifo_console"  # the operator console's pages and session cookie
log = logging.getLogger("shifo.guard")
Connection = ASGIConnection[Any, Any, Any, Any]


def bearer_token(connection: Connection) -> str | None:
    header = connection.headers.get("authorization", "")
    if header[: len(BEARER)].lower() != BEARER:
        return None
    return header[len(BEARER):].strip() or None


def request_token(connection: Connection) -> str | None:
    """The caller's token: the bearer header; on the operator console's pages (a browser sends no
    header) the console's session cookie first. (A console form signed in by the cookie must also
    carry its CSRF token: see ``host.console_web.csrf``.)"""
    path = connection.scope["path"]
    if path == CONSOLE or path.startswith(f"{CONSOLE}/"):
        return connection.cookies.get(CONSOLE_COOKIE) or bearer_token(connection)
    return bearer_token(connection)


def client_of(connection: Connection) -> str:
    return connection.client.host if connection.client else ""


def _unauthorized(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail, headers={"WWW-Authenticate": 'Bearer realm="shifo"'})


async def before_request(request: Request[Any, Any, Any]) -> None:
    """:func:`guard` as the app's before-request hook. A Litestar guard would do the same, but
    Litestar copies the route handler for each guard call, which cost more than the check. The
    hook runs inside the route, before the body is read and dependencies are built, so a refusal
    is answered like any other error; ``app.check_routes`` refuses a route that replaces it."""
    await guard(request, request.route_handler)


async def guard(connection: Connection, handler: BaseRouteHandler) -> None:
    permission = handler.opt.get("permission")
    if permission == "public" or connection.scope["path"].startswith("/schema"):
        return
    if permission is None and getattr(handler, "http_methods", None) == {"OPTIONS"}:  # Litestar's Allow
        return  # (a CORS preflight is anonymous; it reveals the methods, no data)
    state = connection.scope.setdefault("state", {})
    try:
        await _decide(connection, permission, connection.app.state.runtime, state)
    except (NotAuthorizedException, PermissionDeniedException) as refusal:
        await _audit_refusal(connection, permission, state, refusal)
        raise


async def _decide(connection: Connection, permission: Any, runtime: Runtime, state: dict[str, Any]) -> None:
    if not isinstance(permission, Permission):
        raise PermissionDeniedException("this route declares no permission")
    token = request_token(connection)
    if token is None:
        raise _unauthorized("sign in and send the access token as 'Authorization: Bearer ...'")
    audience = "patient" if permission.principal == "patient" else "staff"
    client = client_of(connection)
    principal = await runtime.identity.authenticate(token, audience, client)
    if principal is None and permission.patients:  # a route patients share, for their own compartment
        principal = await runtime.identity.authenticate(token, "patient", client)
    if principal is None:
        raise _unauthorized("the access token is invalid, expired or revoked")
    state["principal"] = principal
    if principal.kind == "patient" and permission.patients:
        if not principal.pinfl:
            raise PermissionDeniedException("this patient account has no PINFL to read a record by")
        return
    if principal.kind != permission.principal:
        raise PermissionDeniedException(f"this route is for {permission.principal} accounts")
    if permission.principal != "staff" or not permission.facility_scoped:
        return
    facility = state["facility_chosen"] = chosen_facility(connection, principal)
    module = permission.object.split(".", 1)[0]
    roles = principal.roles_at(facility)
    if not roles or not runtime.authorizer.allows(roles, facility, permission.object, permission.action):
        raise PermissionDeniedException(
            f"your roles at {facility} do not allow {permission.action} on {permission.object}")
    if not await runtime.module_enabled(facility, module):
        raise PermissionDeniedException(f"the {module} module is not installed at {facility}")
    state["facility"] = facility


def chosen_facility(connection: Connection, principal: Principal) -> str:
    """The facility a staff caller acts for: ``X-Facility``, or their only one (else 403)."""
    chosen = connection.headers.get("x-facility")
    if chosen:
        if len(chosen) > 64 or not chosen.isprintable():
            raise PermissionDeniedException("the X-Facility header does not name a facility")
        return chosen
    facilities = {g.facility for g in principal.grants}
    if len(facilities) == 1:
        return facilities.pop()
    raise PermissionDeniedException("choose the facility you act for with the X-Facility header")


async def _audit_refusal(connection: Connection, permission: Any, state: dict[str, Any],
                         refusal: NotAuthorizedException | PermissionDeniedException) -> None:
    """Record the refusal in its own transaction; a failing audit never turns it into a pass."""
    runtime: Runtime = connection.app.state.runtime
    action = f"{permission.object}/{permission.action}" if isinstance(permission, Permission) else "route"
    item = audit.entry(
        state.get("principal"), action, facility=state.get("facility_chosen"),
        object=f"{connection.scope.get('method', '')} {connection.scope['path']}",
        outcome=f"denied:{refusal.status_code}", detail=refusal.detail,
        request_id=state.get("request_id"), client=client_of(connection))
    try:
        async with runtime.storage.transaction() as tx:
            await audit.record(tx, item)
    except Exception:
        log.exception("could not audit a refusal of %s", connection.scope["path"])
