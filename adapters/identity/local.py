"""Entry point ``identity.local``: argon2id passwords and opaque bearer tokens in the database.

Tokens are random and only their SHA-256 is stored, so a stolen database does not yield working
tokens, and every request re-reads the account's status and grants: a suspension or a revoked
grant takes effect on the very next request. Hashing runs off the event loop (~85 ms each).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, select, update

from adapters.identity.tables import accounts, grants, sessions
from core.clock import utcnow
from core.errors import Unauthenticated
from core.ids import new_id
from core.principals import Grant, Principal, PrincipalKind
from ports.identity import Session
from ports.storage import Storage

MIGRATIONS = str(Path(__file__).parent / "migrations")
_AUDIENCE = {"staff": "staff", "operator": "staff", "patient": "patient"}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LocalIdentity:
    migrations = MIGRATIONS

    def __init__(self, storage: Storage, ttl_seconds: int = 900) -> None:
        self.storage = storage
        self.ttl = ttl_seconds
        self.hasher = PasswordHasher()
        # verifying against this keeps unknown logins as slow as known ones
        self._dummy = self.hasher.hash(secrets.token_hex(8))

    async def hash_password(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def _verify(self, stored: str | None, password: str) -> bool:
        try:
            ok = await asyncio.to_thread(self.hasher.verify, stored or self._dummy, password)
            return ok and bool(stored)
        except (VerificationError, InvalidHashError):
            return False

    async def login(self, login: str, password: str, client: str) -> Session:
        async with self.storage.transaction(readonly=True) as tx:
            row = (await tx.execute(select(accounts).where(accounts.c.login == login))).first()
        ok = await self._verify(row.password_hash if row else None, password)
        if row is None or not ok or row.status != "active":
            raise Unauthenticated("login or password is wrong, or the account is not active")
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.storage.transaction() as tx:
            await tx.execute(sessions.insert().values(
                id=new_id(), account=row.id, token_hash=_digest(token), audience=_AUDIENCE[row.kind],
                client=client[:64], created_at=now, expires_at=now + timedelta(seconds=self.ttl)))
        return Session(access_token=token, token_type="Bearer", expires_in=self.ttl)  # noqa: S106

    async def authenticate(self, token: str, audience: str) -> Principal | None:
        if len(token) > 200:
            return None
        now = utcnow()
        stmt = (
            select(accounts.c.id, accounts.c.kind, accounts.c.login, accounts.c.full_name,
                   accounts.c.pinfl, sessions.c.id.label("session_id"), grants.c.facility, grants.c.role)
            .join(sessions, sessions.c.account == accounts.c.id)
            .outerjoin(grants, and_(grants.c.account == accounts.c.id, grants.c.revoked_at.is_(None)))
            .where(sessions.c.token_hash == _digest(token), sessions.c.audience == audience,
                   sessions.c.revoked_at.is_(None), sessions.c.expires_at > now,
                   accounts.c.status == "active")
        )
        async with self.storage.transaction(readonly=True) as tx:
            rows = (await tx.execute(stmt)).all()
        if not rows:
            return None
        first = rows[0]
        return Principal(
            id=first.id, kind=PrincipalKind(first.kind), login=first.login, full_name=first.full_name,
            pinfl=first.pinfl, session_id=first.session_id,
            grants=tuple(Grant(r.facility, r.role) for r in rows if r.facility is not None))

    async def logout(self, token: str) -> None:
        async with self.storage.transaction() as tx:
            await tx.execute(update(sessions).where(sessions.c.token_hash == _digest(token))
                             .values(revoked_at=utcnow()))

    # --- administration (operators, the demo seed, imports) ----------------------------------

    async def create_account(self, *, login: str, password: str | None, kind: str, full_name: str,
                             pinfl: str | None = None) -> UUID:
        account_id = new_id()
        hashed = await self.hash_password(password) if password else None
        async with self.storage.transaction() as tx:
            await tx.execute(accounts.insert().values(
                id=account_id, login=login, kind=kind, full_name=full_name, pinfl=pinfl,
                status="active", password_hash=hashed, created_at=utcnow()))
        return account_id

    async def grant(self, account: UUID, facility: str, role: str, *, qualification_number: str,
                    qualification_issuer: str, qualification_date: date) -> UUID:
        grant_id = new_id()
        async with self.storage.transaction() as tx:
            await tx.execute(grants.insert().values(
                id=grant_id, account=account, facility=facility, role=role,
                qualification_number=qualification_number, qualification_issuer=qualification_issuer,
                qualification_date=qualification_date, granted_at=utcnow()))
        return grant_id

    async def set_status(self, account: UUID, status: str) -> None:
        async with self.storage.transaction() as tx:
            await tx.execute(update(accounts).where(accounts.c.id == account).values(status=status))


def create(settings: Any, *, storage: Storage) -> LocalIdentity:
    return LocalIdentity(storage, ttl_seconds=settings.token_ttl_seconds)
