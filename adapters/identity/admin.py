"""The local identity's administration surface: accounts, status and grants, for operators.

Each method works inside the caller's transaction when given one (``tx``), so the change and its
audit entry commit or vanish together. Rules enforced here, whatever the caller:
a clinical role needs its qualification (and a pharmacist the pharmaceutical education); only staff
accounts hold grants; a deactivated account never comes back; suspending revokes live sessions.

Conflicts: a status change is an UPDATE conditioned on the status read; granting first locks the
account row (a no-op UPDATE conditioned on an active staff account) and then checks its live grants,
so locks are taken account first, then its grants; revoking is conditioned on ``revoked_at IS NULL``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from adapters.identity.policy import check_password
from adapters.identity.tables import accounts, grants, session_flags, sessions
from core.clock import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.ids import new_id
from core.principals import CLINICAL_ROLES, NON_CLINICAL_ROLES, AccountStatus, PrincipalKind
from ports.identity import Account, GrantRecord, Qualification, SessionFlag, SessionInfo
from ports.storage import Storage, Transaction

_LOGIN = re.compile(r"[A-Za-z0-9._@-]{2,100}")
_MOVES = {"active": {"suspended", "deactivated"}, "suspended": {"active", "deactivated"}}


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": field, "message": message}])


def _account(row: Any) -> Account:
    return Account(id=row.id, login=row.login, kind=row.kind, full_name=row.full_name, pinfl=row.pinfl,
                   status=row.status, created_at=row.created_at)


def _grant(row: Any) -> GrantRecord:
    q = None
    if row.qualification_number:
        q = Qualification(number=row.qualification_number, issuer=row.qualification_issuer or "",
                          issued=row.qualification_date, education=row.education)
    return GrantRecord(id=row.id, account=row.account, facility=row.facility, role=row.role,
                       qualification=q, granted_at=row.granted_at, revoked_at=row.revoked_at)


class Administration:
    storage: Storage

    async def hash_password(self, password: str) -> str:
        raise NotImplementedError

    @asynccontextmanager
    async def _unit(self, tx: Transaction | None) -> AsyncIterator[Transaction]:
        if tx is not None:
            yield tx
            return
        async with self.storage.transaction() as own:
            yield own

    async def create_account(self, *, login: str, password: str | None, kind: str, full_name: str,
                             pinfl: str | None = None, tx: Transaction | None = None) -> UUID:
        if not _LOGIN.fullmatch(login):
            raise _invalid("login", "a login is 2-100 letters, digits or . _ @ -")
        if kind not in set(PrincipalKind):
            raise _invalid("kind", f"kind is one of {', '.join(PrincipalKind)}")
        if pinfl is not None and not re.fullmatch(r"[0-9]{14}", pinfl):
            raise _invalid("pinfl", "a PINFL is 14 digits")
        check_password(password, login)
        hashed = await self.hash_password(password) if password is not None else None
        account_id = new_id()
        async with self._unit(tx) as t:
            if (await t.execute(select(accounts.c.id).where(accounts.c.login == login))).first():
                raise Conflict(f"the login {login!r} is taken")
            if kind == "patient" and pinfl is not None and (await t.execute(select(accounts.c.id).where(
                    accounts.c.kind == "patient", accounts.c.pinfl == pinfl))).first():
                raise Conflict("this PINFL already has a patient account")
            await t.execute(accounts.insert().values(
                id=account_id, login=login, kind=kind, full_name=full_name, pinfl=pinfl,
                status="active", password_hash=hashed, created_at=utcnow()))
        return account_id

    async def _row(self, t: Transaction, account: UUID) -> Any:
        row = (await t.execute(select(accounts).where(accounts.c.id == account))).first()
        if row is None:
            raise NotFound(f"no account {account}")
        return row

    async def set_status(self, account: UUID, status: str, *, tx: Transaction | None = None) -> Account:
        if status not in set(AccountStatus):
            raise _invalid("status", f"status is one of {', '.join(AccountStatus)}")
        async with self._unit(tx) as t:
            row = await self._row(t, account)
            if status not in _MOVES.get(row.status, set()):
                raise Conflict(f"an account that is {row.status} cannot become {status}")
            moved = await t.execute(update(accounts).where(
                accounts.c.id == account, accounts.c.status == row.status).values(status=status))
            if moved.rowcount != 1:
                raise Conflict("the account's status changed meanwhile; read it again")
            if status != "active":
                await t.execute(update(sessions).where(sessions.c.account == account,
                                                       sessions.c.revoked_at.is_(None))
                                .values(revoked_at=utcnow()))
            return _account(await self._row(t, account))

    async def grant(self, account: UUID, facility: str, role: str, *, qualification_number: str,
                    qualification_issuer: str, qualification_date: date, education: str | None = None,
                    tx: Transaction | None = None) -> UUID:
        if role not in CLINICAL_ROLES | NON_CLINICAL_ROLES:
            raise _invalid("role", f"unknown role {role!r}")
        if role in CLINICAL_ROLES:
            _check_qualification(role, qualification_number, qualification_issuer, qualification_date,
                                 education)
        grant_id = new_id()
        async with self._unit(tx) as t:
            row = await self._row(t, account)
            held_account = await t.execute(update(accounts).where(  # the account's lock, then its grants
                accounts.c.id == account, accounts.c.kind == "staff", accounts.c.status != "deactivated",
            ).values(status=accounts.c.status))
            if held_account.rowcount != 1:
                row = await self._row(t, account)
            if held_account.rowcount != 1 or row.kind != "staff" or row.status == "deactivated":
                raise Conflict(f"only active staff accounts hold roles; this one is a {row.status} "
                               f"{row.kind} account")
            held = await t.execute(select(grants.c.id).where(
                grants.c.account == account, grants.c.facility == facility, grants.c.role == role,
                grants.c.revoked_at.is_(None)))
            if held.first() is not None:
                raise Conflict(f"the account already holds {role} at {facility}")
            await t.execute(grants.insert().values(
                id=grant_id, account=account, facility=facility, role=role,
                qualification_number=qualification_number or None,
                qualification_issuer=qualification_issuer or None,
                qualification_date=qualification_date, education=education, granted_at=utcnow()))
        return grant_id

    async def revoke(self, grant_id: UUID, *, tx: Transaction | None = None) -> GrantRecord:
        async with self._unit(tx) as t:
            live = (grants.c.id == grant_id) & grants.c.revoked_at.is_(None)
            done = await t.execute(update(grants).where(live).values(revoked_at=utcnow()))
            row = (await t.execute(select(grants).where(grants.c.id == grant_id))).first()
        if row is None:
            raise NotFound(f"no grant {grant_id}")
        if done.rowcount == 0:
            raise Conflict(f"grant {grant_id} was already revoked")
        return _grant(row)

    async def account(self, account: UUID, *, tx: Transaction | None = None) -> Account:
        async with self._unit(tx) as t:
            return _account(await self._row(t, account))

    async def accounts(self, *, tx: Transaction | None = None) -> list[Account]:
        async with self._unit(tx) as t:
            return [_account(r) for r in await t.execute(select(accounts).order_by(accounts.c.login))]

    async def grants(self, account: UUID, *, tx: Transaction | None = None) -> list[GrantRecord]:
        async with self._unit(tx) as t:
            rows = await t.execute(select(grants).where(grants.c.account == account)
                                   .order_by(grants.c.granted_at))
            return [_grant(r) for r in rows]

    async def sessions(self, account: UUID, *, active_only: bool = True,
                       tx: Transaction | None = None) -> list[SessionInfo]:
        stmt = select(sessions).where(sessions.c.account == account).order_by(sessions.c.created_at)
        if active_only:
            stmt = stmt.where(sessions.c.revoked_at.is_(None), sessions.c.expires_at > utcnow())
        async with self._unit(tx) as t:
            return [SessionInfo(id=r.id, account=r.account, audience=r.audience, client=r.client,
                                created_at=r.created_at, expires_at=r.expires_at, revoked_at=r.revoked_at)
                    for r in await t.execute(stmt)]

    async def flags(self, *, tx: Transaction | None = None) -> list[SessionFlag]:
        f = session_flags.c
        stmt = (select(session_flags, accounts.c.login).join(accounts, accounts.c.id == f.account)
                .order_by(f.created_at.desc()).limit(1000))
        async with self._unit(tx) as t:
            return [SessionFlag(id=r.id, account=r.account, login=r.login, session=r.session, client=r.client,
                                other_session=r.other_session, other_client=r.other_client,
                                created_at=r.created_at) for r in await t.execute(stmt)]


def _check_qualification(role: str, number: str, issuer: str, issued: date | None,
                         education: str | None) -> None:
    missing = [name for name, value in (("qualification_number", number), ("qualification_issuer", issuer),
                                        ("qualification_date", issued))
               if not (value.strip() if isinstance(value, str) else value)]
    if role == "pharmacist" and not (education or "").strip():
        missing.append("education")
    if missing:
        raise ValidationFailed(
            f"the {role} role needs the qualification that justifies it (diploma or licence number, "
            "issuing body and date; for a pharmacist also the pharmaceutical education)",
            errors=[{"field": m, "message": "required"} for m in missing])
    if issued is not None and issued > utcnow().date():
        raise _invalid("qualification_date", "the qualification date is in the future")
