"""Sign-in for staff and operators (patients sign in through the patient API)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Router, post

from host.pluginapi import public
from host.runtime import Runtime
from ports.identity import Session


class LoginRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    login: str = msgspec.field()
    password: str = msgspec.field()


@post("/login", opt=public(), status_code=200)
async def login(request: Request[Any, Any, Any], data: LoginRequest) -> Session:
    """Exchange a login and password for a short-lived access token."""
    runtime: Runtime = request.app.state.runtime
    client = request.client.host if request.client else ""
    return await runtime.identity.login(data.login, data.password, client)


router = Router(path="/api/v1/auth", route_handlers=[login], tags=["auth"])
