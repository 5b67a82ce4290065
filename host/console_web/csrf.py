"""CSRF protection for every console form: a hidden ``csrf`` field that only our pages can know.

The field is HMAC-SHA256(server secret, the session token) -- or, on the sign-in form before any
session exists, of a random nonce kept in its own cookie. Another site can make the browser send
the cookies but cannot read them, so it cannot compute the field; a POST without the right one is
refused (403) before anything is done. The secret is ``SHIFO_CONSOLE_SECRET``; unset, a random one
per process (fine for one process: set it when several serve the console).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

from litestar.exceptions import PermissionDeniedException
from markupsafe import Markup

from host.web.guard import CONSOLE_COOKIE, bearer_token

SESSION_COOKIE = CONSOLE_COOKIE
NONCE_COOKIE = "shifo_console_login"
FIELD = "csrf"


def _secret(request: Any) -> bytes:
    state = request.app.state
    found = state.get("console_secret")
    if found is None:
        configured = getattr(state.settings, "console_secret", None)
        found = state["console_secret"] = configured.encode() if configured else secrets.token_bytes(32)
    return found  # type: ignore[no-any-return]


def _basis(request: Any) -> str:
    return request.cookies.get(SESSION_COOKIE) or request.cookies.get(NONCE_COOKIE) or ""


def token_for(request: Any, basis: str | None = None) -> str:
    """The CSRF token of this browser's session ('' when it has neither session nor nonce);
    ``basis``: the sign-in form's nonce instead."""
    basis = _basis(request) if basis is None else basis
    if not basis:
        return ""
    return hmac.new(_secret(request), f"shifo-console-csrf:{basis}".encode(), hashlib.sha256).hexdigest()


def field(request: Any) -> Markup:
    """The hidden input every console form carries (``{{ csrf_field() }}`` in templates)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, token_for(request))


def check(request: Any, form: Mapping[str, Any], basis: str | None = None) -> None:
    """Refuse (403) a form whose ``csrf`` field is missing or not this session's (or ``basis``').
    A caller that signed the request with an ``Authorization`` header and sent no session cookie
    needs none: a browser adds no such header by itself, so no other site can forge it."""
    if basis is None and not request.cookies.get(SESSION_COOKIE) and bearer_token(request):
        return
    expected = token_for(request, basis)
    sent = form.get(FIELD)
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise PermissionDeniedException("the form's security token is missing or wrong: reload the page "
                                        "and try again")
