"""The operator's account administration: accounts, their status and their per-facility grants.

Only operator accounts reach these routes (the integrator answers for access control); each change
commits together with its audit entry, and a refused change (4xx) is audited in a unit of its own
(not a 503: an outage refuses nothing, and auditing it would only lengthen the wait).
Reads are audited too: they show people's names and PINFLs. Operators see accounts and grants, never
clinical data; lists show a patient's PINFL masked (:func:`mask_pinfl`), and only the audited
single-account read (``GET /accounts/{id}``, which also lands in that patient's access log) shows it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar
from uuid import UUID

import msgspec
from litestar import Request, Router, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from core.errors import ShifoError, Unavailable, ValidationFailed
from host import audit
from host.pluginapi import requires
from host.runtime import Runtime
from host.tables import facilities
from host.web.guard import client_of
from ports.conflicts import run_unit
from ports.identity import Account, GrantRecord, Qualification, SessionFlag, SessionInfo
from ports.storage import Transaction

Req = Request[Any, Any, Any]
T = TypeVar("T")
MANAGE = requires("admin.account", "manage", principal="operator", facility_scoped=False)
READ = requires("admin.account", "read", principal="operator", facility_scoped=False)
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]


class NewAccount(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    login: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._@-]{2,100}$")]
    kind: Annotated[str, msgspec.Meta(pattern=r"^(staff|operator|patient)$")]
    full_name: Text
    pinfl: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{14}$")]
    password: str | None = None  # the identity's password policy checks it (422 naming the rule)


class NewGrant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    facility: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    role: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    qualification: Qualification | None = None


class AccountDetail(msgspec.Struct, frozen=True):
    account: Account
    grants: list[GrantRecord]
    sessions: list[SessionInfo]


def mask_pinfl(pinfl: str | None) -> str | None:
    """``**********1745``: the last four digits, enough to tell people apart in a list next to their
    names, not enough to look one up (the first digits give sex and birth date away)."""
    if not pinfl:
        return pinfl
    shown = pinfl[-4:] if len(pinfl) > 8 else ""
    return "*" * (len(pinfl) - len(shown)) + shown


def _masked(account: Account) -> Account:
    if account.kind != "patient":
        return account
    return msgspec.structs.replace(account, pinfl=mask_pinfl(account.pinfl))


def _entry(request: Req, action: str, target: str, **fields: Any) -> audit.AuditEntry:
    state = request.scope.get("state", {})
    return audit.entry(state.get("principal"), f"admin.account/{action}", object=target,
                       request_id=state.get("request_id"), client=client_of(request), **fields)


async def _change(request: Req, action: str, target: str,
                  change: Callable[[Transaction], Awaitable[T]], detail: str | None = None) -> T:
    """Run ``change`` and audit it in one unit; a refusal is audited on its own, then raised."""
    runtime: Runtime = request.app.state.runtime
    try:
        async def unit(tx: Transaction) -> T:
            done = await change(tx)
            await audit.record(tx, _entry(request, action, target, detail=detail))
            return done

        result = await run_unit(runtime.storage, unit)  # re-run whole when it loses a race, then 409
    except Unavailable:  # the database (or a dependency) is away: nothing was refused, nothing to audit
        raise
    except ShifoError as refused:
        async with runtime.storage.transaction() as tx:
            await audit.record(tx, _entry(request, action, target, outcome=f"refused:{refused.status}",
                                          detail=f"{detail or ''} {refused}".strip()))
        raise
    return result


def _identity(request: Req) -> Any:
    return request.app.state.runtime.identity


@get("/accounts", opt=READ)
async def list_accounts(request: Req) -> list[Account]:
    """Every account; patients' PINFLs masked. Audited."""
    identity = _identity(request)

    async def read(tx: Transaction) -> list[Account]:
        return [_masked(a) for a in await identity.accounts(tx=tx)]

    return await _change(request, "list", "accounts", read)


@post("/accounts", opt=MANAGE, status_code=201)
async def create_account(request: Req, data: JSONBody[NewAccount]) -> Account:
    """Open a personal account (PINFL, full name, login); staff then receive grants per facility."""
    identity = _identity(request)

    async def change(tx: Transaction) -> Account:
        uid = await identity.create_account(login=data.login, password=data.password, kind=data.kind,
                                            full_name=data.full_name, pinfl=data.pinfl, tx=tx)
        return await identity.account(uid, tx=tx)  # type: ignore[no-any-return]

    return await _change(request, "create", data.login, change, detail=f"kind={data.kind}")


@get("/accounts/{account_id:uuid}", opt=READ)
async def read_account(request: Req, account_id: FromPath[UUID]) -> AccountDetail:
    """One account looked up on purpose, PINFL unmasked; audited (for a patient, in their access log)."""
    identity, runtime = _identity(request), request.app.state.runtime
    async with runtime.storage.transaction() as tx:
        account = await identity.account(account_id, tx=tx)
        detail = AccountDetail(account, await identity.grants(account_id, tx=tx),
                               await identity.sessions(account_id, tx=tx))
        patient = account.pinfl if account.kind == "patient" else None
        await audit.record(tx, _entry(request, "read", str(account_id), patient=patient))
    return detail


def _status_route(path: str, status: str, action: str) -> Any:
    @post(path, opt=MANAGE, status_code=200, name=f"account-{action}",
          summary=f"{action.capitalize()} the account (status {status})")
    async def handler(request: Req, account_id: FromPath[UUID]) -> Account:
        """Change the account's status; its access changes on its very next request."""
        identity = _identity(request)
        return await _change(request, action, str(account_id),
                             lambda tx: identity.set_status(account_id, status, tx=tx))
    return handler


suspend = _status_route("/accounts/{account_id:uuid}/suspend", "suspended", "suspend")
reactivate = _status_route("/accounts/{account_id:uuid}/reactivate", "active", "reactivate")
deactivate = _status_route("/accounts/{account_id:uuid}/deactivate", "deactivated", "deactivate")


@post("/accounts/{account_id:uuid}/grants", opt=MANAGE, status_code=201)
async def grant(request: Req, account_id: FromPath[UUID], data: JSONBody[NewGrant]) -> GrantRecord:
    """Grant a role at a facility; a clinical role needs its qualification (422 without it)."""
    identity = _identity(request)
    q = data.qualification

    async def change(tx: Transaction) -> GrantRecord:
        known = await tx.execute(select(facilities.c.id).where(facilities.c.id == data.facility))
        if known.first() is None:
            raise ValidationFailed(f"no facility {data.facility!r}",
                                   errors=[{"field": "facility", "message": "unknown facility"}])
        gid = await identity.grant(
            account_id, data.facility, data.role, qualification_number=q.number if q else "",
            qualification_issuer=q.issuer if q else "", qualification_date=q.issued if q else None,
            education=q.education if q else None, tx=tx)
        made: GrantRecord = next(g for g in await identity.grants(account_id, tx=tx) if g.id == gid)
        return made

    return await _change(request, "grant", str(account_id), change,
                         detail=f"role={data.role} facility={data.facility}")


@post("/grants/{grant_id:uuid}/revoke", opt=MANAGE, status_code=200)
async def revoke(request: Req, grant_id: FromPath[UUID]) -> GrantRecord:
    """Revoke a grant; requests relying on it are refused from the next one on."""
    identity = _identity(request)
    return await _change(request, "revoke", str(grant_id), lambda tx: identity.revoke(grant_id, tx=tx))


@get("/session-flags", opt=READ)
async def session_flags(request: Req) -> list[SessionFlag]:
    """Accounts signed in from two client addresses at once, or a token presented from an address
    other than its own (``session`` = ``other_session``): possible credential sharing. Audited."""
    identity = _identity(request)
    return await _change(request, "flags", "session-flags", lambda tx: identity.flags(tx=tx))


router = Router(path="/api/v1/admin", tags=["admin"], route_handlers=[
    list_accounts, create_account, read_account, suspend, reactivate, deactivate, grant, revoke,
    session_flags])
