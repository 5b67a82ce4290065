"""Console sign-in with an EDS key, as the API's: a one-time challenge (``POST /challenge``) that
the operator signs with their EDS tool (E-IMZO or the dev signer) and pastes back as base64 CMS;
the answer goes through :func:`host.web.auth.sign_in_eds` with the same lockout and
``auth/login_eds`` audit entry. Both forms carry the sign-in nonce's CSRF token."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from uuid import UUID

from litestar import Response, post
from litestar.exceptions import PermissionDeniedException
from litestar.response import Template

from core.errors import Unauthenticated
from host.console_web import csrf
from host.console_web.pages import Req, safe_next, t
from host.console_web.session import login_form, signed_in
from host.pluginapi import public
from host.runtime import Runtime
from host.web.auth import sign_in_eds  # the API's sign-in: same lockout, same audit

EDS_PAGE = "login_eds.html.j2"
MAX_SIGNATURE = 64 * 1024


async def _checked(request: Req) -> tuple[Any, str]:
    data = await request.form()
    csrf.check(request, data, basis=request.cookies.get(csrf.NONCE_COOKIE, ""))
    return data, safe_next(data.get("next"))


@post("/login/eds/challenge", opt=public(), include_in_schema=False, status_code=200)
async def eds_challenge(request: Req) -> Template:
    """A one-time text for the login given (answered alike whether the login exists or not)."""
    try:
        data, target = await _checked(request)
    except PermissionDeniedException:
        return login_form(request, "/console/", status=403,
                          error=t(request, "The form expired: please try again."))
    login = str(data.get("login") or "")[:100]
    if not login:
        return login_form(request, target, status=400, error=t(request, "Enter your login."))
    runtime: Runtime = request.app.state.runtime
    issued = await runtime.identity.challenge(login)
    return login_form(request, target, status=200, error=None, template=EDS_PAGE,
                      challenge=issued.challenge, challenge_id=str(issued.challenge_id))


@post("/login/eds", opt=public(), include_in_schema=False)
async def eds_submit(request: Req) -> Response[Any]:
    """Sign in with the signed challenge exactly as ``POST /api/v1/auth/login/eds`` does."""
    try:
        data, target = await _checked(request)
    except PermissionDeniedException:
        return login_form(request, "/console/", status=403,
                          error=t(request, "The form expired: please try again."))

    def again(status: int, error: str) -> Template:
        return login_form(request, target, status=status, error=error)

    try:
        challenge_id = UUID(str(data.get("challenge_id") or ""))
        signature = base64.b64decode(str(data.get("signature") or "").strip()[:MAX_SIGNATURE], validate=True)
    except (ValueError, binascii.Error):
        return again(400, t(request, "The signature is not valid base64."))
    try:
        result = await sign_in_eds(request, challenge_id, signature)
    except Unauthenticated:
        return again(401, t(request, "The signature was not accepted: ask for a new text and "
                                     "sign it again."))
    return await signed_in(request, target, result, again)


HANDLERS = [eds_challenge, eds_submit]
