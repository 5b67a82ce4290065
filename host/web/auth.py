"""Sign-in for staff and operators (patients sign in through the patient API).

Two ways in: a login and password, or an EDS challenge: ``POST /challenge`` issues a one-time text,
the client signs it with its personal key and sends the signature to ``POST /login/eds``. Every
attempt, won or lost, is audited. Throttled attempts answer 429 and locked ones 423, each with
``Retry-After``; nothing in an answer tells whether a login exists.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Response, Router, post
from litestar.exceptions import ServiceUnavailableException
from litestar.params import JSONBody

from core.errors import ConfigurationError, Unauthenticated
from host import adapters, audit
from host.pluginapi import public
from host.runtime import Runtime
from host.web.guard import bearer_token, client_of
from host.web.problems import problem
from ports.identity import Challenge, Session, Throttled
from ports.signature import Signature

Login = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Req = Request[Any, Any, Any]
MAX_SIGNATURE = 64 * 1024  # base64 of a CMS signature with its certificate chain


class LoginRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    login: Login
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class ChallengeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    login: Login


class SignedLogin(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    challenge_id: UUID
    signature: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SIGNATURE)]  # base64 CMS (DER)


async def sign_in(request: Req, login: str, password: str) -> Session | Response[Any]:
    """Sign in with a login and password exactly as ``POST /api/v1/auth/login`` does.

    One place for the lockout and the ``auth/login`` audit entry, so the console's sign-in form can
    never drift from the API's. Answers the session, or the lockout's 429/423 problem answer (with
    ``Retry-After``); raises :class:`Unauthenticated` (after auditing) when the credentials are wrong.
    """
    runtime: Runtime = request.app.state.runtime
    client = client_of(request)
    return await _audited(request, login, "login", runtime.identity.login(login, password, client))


async def sign_in_eds(request: Req, challenge_id: UUID, signature: bytes) -> Session | Response[Any]:
    """Sign in with a signed challenge exactly as ``POST /api/v1/auth/login/eds`` does.

    As :func:`sign_in`, audited as ``auth/login_eds``; the deployment's signature adapter checks the
    signature (503 when EDS sign-in is not configured).
    """
    runtime: Runtime = request.app.state.runtime
    verifier = await _verifier(request)
    return await _audited(request, str(challenge_id), "login_eds", runtime.identity.login_signed(
        challenge_id, signature, client_of(request), verifier))


async def _audited(request: Req, login: str, how: str,
                   attempt: Awaitable[Session]) -> Session | Response[Any]:
    """Await the identity's sign-in, audit the outcome, and map a throttle to its problem answer."""
    runtime: Runtime = request.app.state.runtime
    answer: Session | Response[Any] | None = None
    outcome = "failed"
    try:
        answer, outcome = await attempt, "ok"
    except Throttled as exc:
        outcome = f"refused:{exc.status}"
        answer = problem(exc.status, exc.detail, title=exc.title, instance=request.url.path,
                         headers={"Retry-After": str(exc.retry_after)})
    except Unauthenticated:
        pass
    async with runtime.storage.transaction() as tx:
        await audit.record(tx, audit.AuditEntry(
            action=f"auth/{how}", outcome=outcome, login=login, object=login,
            request_id=request.scope.get("state", {}).get("request_id"), client=client_of(request)))
    if answer is None:
        raise Unauthenticated("sign-in failed: the credentials are wrong or the account is not active")
    return answer


#: the answers of a throttled sign-in (documented in the OpenAPI document, see ``host.web.openapi_doc``)
THROTTLED = {**public(), "errors": {
    429: "Too many failed sign-ins from this address or for this login: wait `Retry-After` seconds.",
    423: "Sign-in is locked for a while after repeated failures: `Retry-After` says how long."}}


@post("/login", opt=THROTTLED, status_code=200)
async def login(request: Req, data: JSONBody[LoginRequest]) -> Session | Response[Any]:
    """Exchange a login and password for a short-lived access token."""
    return await sign_in(request, data.login, data.password)


@post("/challenge", opt=public(), status_code=200)
async def challenge(request: Req, data: JSONBody[ChallengeRequest]) -> Challenge:
    """A one-time text to sign with your EDS key (valid for ``expires_in`` seconds)."""
    runtime: Runtime = request.app.state.runtime
    return await runtime.identity.challenge(data.login)


@post("/login/eds", opt=THROTTLED, status_code=200)
async def login_eds(request: Req, data: JSONBody[SignedLogin]) -> Session | Response[Any]:
    """Exchange a signed challenge for an access token; the signer must be the account's holder."""
    try:
        signature = base64.b64decode(data.signature, validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    return await sign_in_eds(request, data.challenge_id, signature)


@post("/logout", opt=public(), status_code=204)
async def logout(request: Req) -> None:
    """Revoke the bearer token sent with this request (if any); always answers 204."""
    token = bearer_token(request)
    if token:
        runtime: Runtime = request.app.state.runtime
        await runtime.identity.logout(token)


async def _verifier(request: Req) -> Signature:
    """The deployment's signature adapter: the runtime's if it has one, else built once here."""
    state = request.app.state
    found = state.get("signature") or getattr(state.runtime, "signature", None)  # an override first
    if found is None:
        try:
            found = await adapters.create("signature", state.settings.signature_adapter, state.settings)
        except ConfigurationError:
            raise ServiceUnavailableException("EDS sign-in is not configured on this server") from None
        state["signature"] = found
    return found  # type: ignore[no-any-return]


router = Router(path="/api/v1/auth", route_handlers=[login, challenge, login_eds, logout], tags=["auth"])
