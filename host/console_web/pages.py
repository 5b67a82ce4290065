"""What every console page shares: rendering with the common context, reading a CSRF-checked
form, redirects with a flash message, and errors as HTML pages instead of problem+json."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Redirect, Template

from core.errors import ShifoError
from host.console_web import csrf, i18n
from host.operator.web import op
from host.web import problems

Req = Request[Any, Any, Any]
FLASH_COOKIE = "shifo_flash"
# never framed (clickjacking), never cached (the pages show accounts), no referrer to other sites
HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'",
           "Cache-Control": "no-store", "Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff"}
# (key, path, label msgid): the nav bar, in order; a page passes its key as ``nav``
NAV = (("requests", "/console/requests", "Requests"), ("calendar", "/console/calendar", "Calendar"),
       ("sla", "/console/sla", "SLA"), ("reviews", "/console/reviews", "Access reviews"),
       ("system", "/console/system", "System"))

__all__ = ["NAV", "Req", "form", "op", "page", "redirect", "t"]


def t(request: Req, message: str) -> str:
    """``message`` (an English msgid) in the request's language, for text built in Python."""
    return i18n.translate(i18n.lang_of(request), message)


def page(request: Req, template: str, *, status: int = 200, nav: str | None = None,
         **context: Any) -> Template:
    """Render ``template`` with the common context: ``user``, ``lang``, ``csrf_field()``, the nav
    and its active entry, and the flash message of the last redirect (shown once)."""
    flash = request.cookies.get(FLASH_COOKIE)
    principal = request.scope.get("state", {}).get("principal")
    common = {"user": principal.login if principal else None, "lang": i18n.lang_of(request),
              "csrf_field": lambda: csrf.field(request), "csrf_token": csrf.token_for(request),
              "nav_items": NAV, "nav_active": nav or _section(request),
              "flash": unquote(flash) if flash else None, "path": request.url.path}
    cookies = [Cookie(key=FLASH_COOKIE, value="", path="/console", max_age=0)] if flash else []
    return Template(template_name=template, context={**common, **context}, status_code=status,
                    cookies=cookies, media_type="text/html", headers=dict(HEADERS))


def _section(request: Req) -> str:
    parts = request.url.path.split("/")
    return parts[2] if len(parts) > 2 else ""


async def form(request: Req) -> Any:
    """The posted form (a multi-dict: ``.get``, ``.getall``) once its CSRF token is checked; 403 if not."""
    data = await request.form()
    csrf.check(request, data)
    return data


def redirect(path: str, flash: str | None = None) -> Redirect:
    """303 to ``path`` (a console path); ``flash``, an English msgid, is shown there once, translated."""
    cookies = [Cookie(key=FLASH_COOKIE, value=quote(flash), path="/console", httponly=True,
                      samesite="strict")] if flash else []
    return Redirect(path=path, status_code=303, cookies=cookies)


def safe_next(target: str | None) -> str:
    """A console path to go back to, never another site (``//host`` or a scheme)."""
    if target and target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/"


def _html(handler: Any) -> Any:
    """The API's error handler; for a browser (it accepts text/html) as the console's error page,
    401 as a redirect to the sign-in page."""

    def handle(request: Req, exc: Any) -> Response[Any]:
        answer: Response[Any] = handler(request, exc)
        if "text/html" not in request.headers.get("accept", ""):
            return answer  # not a browser: the API's problem details, as on every route
        if answer.status_code == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            if request.method != "GET":  # a form posted after the session ended: start over
                target = "/console/"
            return Redirect(path=f"/console/login?next={quote(target)}", status_code=303)
        body = answer.content if isinstance(answer.content, dict) else {}
        retry = (answer.headers or {}).get("Retry-After")
        status = answer.status_code or 500
        response = page(request, "error.html.j2", status=status, nav="", status_code=status,
                        title=body.get("title", ""), detail=body.get("detail", ""))
        if retry:
            response.headers["Retry-After"] = retry
        return response

    return handle


HANDLERS: dict[type[Exception] | int, Any] = {exc: _html(handler) for exc, handler in {
    NotAuthorizedException: problems.on_http,
    ShifoError: problems.on_shifo_error,
    ValidationException: problems.on_validation,
    HTTPException: problems.on_http,
    Exception: problems.on_unexpected,
}.items()}
