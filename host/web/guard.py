"""The one guard: every route declares its permission; the guard authenticates and decides.

Deny by default: a route without a declared permission never starts (see ``app.check_routes``)
and would be refused here anyway. 401 means "we don't know who you are"; 403 means "we do, and
you may not".
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from host.pluginapi import Permission
from host.runtime import Runtime

BEARER = "bearer "


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    if header[: len(BEARER)].lower() != BEARER:
        return None
    return header[len(BEARER):].strip() or None


def _unauthorized(detail: str) -> NotAuthorizedException:
    return NotAuthorizedException(detail, headers={"WWW-Authenticate": 'Bearer realm="shifo"'})


async def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    permission = handler.opt.get("permission")
    if permission == "public" or connection.scope["path"].startswith("/schema"):
        return
    if not isinstance(permission, Permission):
        raise PermissionDeniedException("this route declares no permission")
    runtime: Runtime = connection.app.state.runtime
    token = bearer_token(connection)
    if token is None:
        raise _unauthorized("sign in and send the access token as 'Authorization: Bearer ...'")
    audience = "patient" if permission.principal == "patient" else "staff"
    principal = await runtime.identity.authenticate(token, audience)
    if principal is None:
        raise _unauthorized("the access token is invalid, expired or revoked")
    state = connection.scope.setdefault("state", {})
    state["principal"] = principal
    if principal.kind != permission.principal:
        raise PermissionDeniedException(f"this route is for {permission.principal} accounts")
    if permission.principal != "staff" or not permission.facility_scoped:
        return
    facility = _facility(connection, principal.grants)
    module = permission.object.split(".", 1)[0]
    roles = principal.roles_at(facility)
    if not roles or not runtime.authorizer.allows(roles, facility, permission.object, permission.action):
        raise PermissionDeniedException(
            f"your roles at {facility} do not allow {permission.action} on {permission.object}")
    if not await runtime.module_enabled(facility, module):
        raise PermissionDeniedException(f"the {module} module is not installed at {facility}")
    state["facility"] = facility


def _facility(connection: ASGIConnection[Any, Any, Any, Any], grants: Any) -> str:
    chosen = connection.headers.get("x-facility")
    if chosen:
        return chosen
    facilities = {g.facility for g in grants}
    if len(facilities) == 1:
        return facilities.pop()
    raise PermissionDeniedException("choose the facility you act for with the X-Facility header")
