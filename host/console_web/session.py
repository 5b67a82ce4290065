"""Console sign-in and sign-out, and the language switch.

Sign-in is the API's: the same identity call, lockout and ``auth/login`` audit entry
(:func:`host.web.auth.sign_in`); only operator accounts may stay signed in. The access token is
kept in the ``shifo_console`` cookie: HttpOnly (no script reads it), SameSite=Strict (no other site
sends it), Secure when the page came over TLS, Path=/console; it lives as long as the token.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from litestar import Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import PermissionDeniedException
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from core.errors import Unauthenticated
from host.console_web import csrf, i18n
from host.console_web.pages import Req, form, page, redirect, safe_next, t
from host.pluginapi import public
from host.runtime import Runtime
from host.web.auth import sign_in  # the API's sign-in: same lockout, same audit
from host.web.guard import CONSOLE_COOKIE, client_of
from ports.identity import Session

YEAR = 365 * 24 * 3600


def secure(request: Req) -> bool:
    """Over TLS: the scheme uvicorn reports (it honours X-Forwarded-Proto from trusted proxies)."""
    return request.url.scheme == "https"


def session_cookie(request: Req, value: str, max_age: int) -> Cookie:
    return Cookie(key=CONSOLE_COOKIE, value=value, path="/console", max_age=max_age, httponly=True,
                  samesite="strict", secure=secure(request))


@get("/login", opt=public(), include_in_schema=False)
async def login_page(request: Req, next_: Annotated[str | None, QueryParameter(name="next")] = None
                     ) -> Template:
    """The sign-in form; a nonce cookie gives it a CSRF token before any session exists."""
    return login_form(request, safe_next(next_), status=200, error=None)


def login_form(request: Req, target: str, *, status: int, error: str | None,
               template: str = "login.html.j2", **extra: Any) -> Template:
    """A sign-in page (``template``) with the nonce's CSRF token (setting the nonce if new)."""
    nonce = request.cookies.get(csrf.NONCE_COOKIE) or secrets.token_urlsafe(24)
    response = page(request, template, status=status, nav="", next=target, error=error,
                    login_csrf=csrf.token_for(request, basis=nonce), **extra)
    response.cookies.append(Cookie(key=csrf.NONCE_COOKIE, value=nonce, path="/console", httponly=True,
                                   samesite="strict", secure=secure(request), max_age=3600))
    return response


@post("/login", opt=public(), include_in_schema=False)
async def login_submit(request: Req) -> Response[Any]:
    """Check the form's token, then sign in exactly as ``POST /api/v1/auth/login`` does."""
    data = await request.form()
    target = safe_next(data.get("next"))
    try:
        csrf.check(request, data, basis=request.cookies.get(csrf.NONCE_COOKIE, ""))
    except PermissionDeniedException:
        return login_form(request, target, status=403,
                          error=t(request, "The form expired: please try again."))
    login, password = str(data.get("login") or "")[:100], str(data.get("password") or "")[:1024]
    if not login or not password:
        return login_form(request, target, status=400, error=t(request, "Enter your login and password."))
    try:
        result = await sign_in(request, login, password)
    except Unauthenticated:  # the same words whatever was wrong
        return login_form(request, target, status=401, error=t(request, "Wrong login or password."))
    return await signed_in(request, target, result,
                           lambda status, error: login_form(request, target, status=status, error=error))


async def signed_in(request: Req, target: str, result: Session | Response[Any],
                    again: Callable[[int, str], Template]) -> Response[Any]:
    """After a sign-in attempt the API would answer ``result`` to: the lockout's 429/423 (with
    Retry-After) or a non-operator (signed out again) shown by ``again``; else the session cookie."""
    if not isinstance(result, Session):  # 429 or 423 with Retry-After: the API's lockout
        answer = again(result.status_code or 429, t(request, "Too many failed sign-ins: try again later."))
        answer.headers["Retry-After"] = result.headers.get("Retry-After", "60")
        return answer
    runtime: Runtime = request.app.state.runtime
    principal = await runtime.identity.authenticate(result.access_token, "staff", client_of(request))
    if principal is None or principal.kind != "operator":
        await runtime.identity.logout(result.access_token)
        return again(403, t(request, "The console is for operator accounts only."))
    response = Redirect(path=target, status_code=303)
    response.cookies.append(session_cookie(request, result.access_token, result.expires_in))
    response.cookies.append(Cookie(key=csrf.NONCE_COOKIE, value="", path="/console", max_age=0))
    return response


@post("/logout", opt=public(), include_in_schema=False)
async def logout(request: Req) -> Redirect:
    """Revoke the session (as ``POST /api/v1/auth/logout``) and forget the cookie."""
    await form(request)
    token = request.cookies.get(CONSOLE_COOKIE)
    if token:
        runtime: Runtime = request.app.state.runtime
        await runtime.identity.logout(token)
    response = redirect("/console/login", "You are signed out.")
    response.cookies.append(session_cookie(request, "", 0))
    return response


@get("/lang/{lang:str}", opt=public(), include_in_schema=False)
async def switch_language(request: Req, lang: FromPath[str]) -> Redirect:
    """Remember the language in a cookie and go back to the page the switch was clicked on."""
    chosen = lang if lang in i18n.LANGS else i18n.DEFAULT
    referer = urlsplit(request.headers.get("referer", ""))
    same_site = referer.netloc == request.headers.get("host")
    back = referer.path + (f"?{referer.query}" if referer.query else "") if same_site else ""
    response = Redirect(path=safe_next(back), status_code=303)
    response.cookies.append(Cookie(key=i18n.COOKIE, value=chosen, path="/console", max_age=YEAR,
                                   samesite="lax", secure=secure(request)))
    return response


HANDLERS = [login_page, login_submit, logout, switch_language]
