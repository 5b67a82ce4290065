"""Entry point ``identity.local``: argon2id passwords, EDS challenges and opaque bearer tokens.

Tokens are random and only their SHA-256 is stored, so a stolen database does not yield working
tokens, and every request re-reads the account's status and grants: a suspension or a revoked
grant takes effect on the very next request. Hashing runs off the event loop (~85 ms each).
Repeated failures are throttled per login, per client address and per account (see ``throttle``);
an EDS sign-in only per address.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, bindparam, delete, or_, select, update

from adapters.identity import throttle
from adapters.identity.admin import Administration
from adapters.identity.sessions import digest, flag_reuse, open_session
from adapters.identity.tables import accounts, grants, login_challenges, sessions
from core.clock import utcnow
from core.errors import Unauthenticated
from core.ids import new_id
from core.principals import Grant, Principal, PrincipalKind
from ports.identity import Challenge, Session
from ports.signature import Signature
from ports.storage import Storage, prepared

MIGRATIONS = str(Path(__file__).parent / "migrations")
_WRONG = "login or password is wrong, or the account is not active"
_MAX_TOKEN = 200


class Hashing(msgspec.Struct, frozen=True, kw_only=True):
    """argon2id cost (``extra["identity"]["hashing"]``); the defaults are argon2-cffi's. Tests
    lower it; stored hashes carry their own parameters, so a change never locks anyone out."""

    time_cost: int = 3
    memory_cost: int = 65536
    parallelism: int = 4


class LocalIdentity(Administration):
    migrations = MIGRATIONS

    def __init__(self, storage: Storage, ttl_seconds: int = 900,
                 limits: throttle.Limits | None = None, hashing: Hashing | None = None) -> None:
        self.storage = storage
        self.ttl = ttl_seconds
        self.limits = limits or throttle.Limits()
        h = hashing or Hashing()
        self.hasher = PasswordHasher(time_cost=h.time_cost, memory_cost=h.memory_cost,
                                     parallelism=h.parallelism)
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

    async def _admit(self, login: str, client: str, *, signed: bool = False) -> Any:
        """Refuse a throttled login, address or account before any expensive check; return the account row.
        A patient may give their PINFL instead of a login (an exact login match wins). ``signed`` (EDS):
        only the address counts, so password guesses under a semi-public PINFL never block it."""
        async with self.storage.transaction(readonly=True) as tx:
            found = accounts.c.login == login
            if _PINFL.fullmatch(login):
                found = or_(found, and_(accounts.c.kind == "patient", accounts.c.pinfl == login))
            rows = (await tx.execute(select(accounts).where(found).limit(2))).all()
            row = next((r for r in rows if r.login == login), rows[0] if rows else None)
            await throttle.check(tx, self.limits, self._keys(login, client, row, signed), utcnow())
            return row

    def _keys(self, login: str, client: str, row: Any, signed: bool) -> list[throttle.Key]:
        if signed:
            return throttle.client_keys(self.limits, client)
        return throttle.keys(self.limits, login, client, row.id if row is not None else None)

    async def _finish(self, row: Any, ok: bool, login: str, client: str, why: str, *,
                      signed: bool = False) -> Session:
        async with self.storage.transaction() as tx:
            if not ok or row is None or row.status != "active":
                await throttle.failed(tx, self.limits, self._keys(login, client, row, signed), utcnow())
            else:
                if not signed:  # an EDS sign-in leaves a guesser's password counters running
                    await throttle.succeeded(tx, login, row.id)
                return await open_session(tx, row, client, ttl=self.ttl,
                                          max_sessions=self.limits.max_sessions)
        raise Unauthenticated(why)

    async def login(self, login: str, password: str, client: str) -> Session:
        row = await self._admit(login, client)
        ok = await self._verify(row.password_hash if row else None, password)
        return await self._finish(row, ok, login, client, _WRONG)

    async def challenge(self, login: str) -> Challenge:
        now, ttl = utcnow(), self.limits.challenge_ttl_seconds
        challenge_id, nonce = new_id(), secrets.token_urlsafe(32)
        async with self.storage.transaction() as tx:
            await tx.execute(delete(login_challenges).where(login_challenges.c.expires_at < now))
            await tx.execute(login_challenges.insert().values(
                id=challenge_id, login=login[:100], nonce=nonce, expires_at=now + timedelta(seconds=ttl)))
        return Challenge(challenge_id=challenge_id, challenge=_content(challenge_id, nonce), expires_in=ttl)

    async def login_signed(self, challenge_id: UUID, signature: bytes, client: str,
                           verifier: Signature) -> Session:
        now = utcnow()
        lc = login_challenges.c
        async with self.storage.transaction() as tx:
            usable = (lc.id == challenge_id) & lc.used_at.is_(None) & (lc.expires_at > now)
            spent = (await tx.execute(update(login_challenges).where(usable).values(used_at=now)
                                      .returning(lc.login, lc.nonce))).first()
        if spent is None:
            raise Unauthenticated("the sign-in challenge is unknown, expired or already used")
        row = await self._admit(spent.login, client, signed=True)
        result = await verifier.verify(_content(challenge_id, spent.nonce).encode(), signature)
        ok = (result.valid and row is not None and row.pinfl is not None
              and result.signer_pinfl == row.pinfl)
        return await self._finish(row, ok, spent.login, client,
                                  "the signature does not prove this account's EDS key", signed=True)

    async def authenticate(self, token: str, audience: str, client: str | None = None) -> Principal | None:
        if not token or len(token) > _MAX_TOKEN:
            return None
        async with self.storage.transaction(readonly=True) as tx:
            rows = (await tx.execute(_PRINCIPAL, {"token_hash": digest(token), "audience": audience,
                                                  "now": utcnow()})).all()
        if not rows:
            return None
        first = rows[0]
        if client and client[:64] != first.session_client:  # the token travelled: possible sharing
            await flag_reuse(self.storage, first, client)
        return Principal(
            id=first.id, kind=PrincipalKind(first.kind), login=first.login, full_name=first.full_name,
            pinfl=first.pinfl, session_id=first.session_id, session_expires_at=first.expires_at,
            grants=tuple(Grant(r.facility, r.role) for r in rows if r.facility is not None))

    async def logout(self, token: str) -> None:
        async with self.storage.transaction() as tx:
            await tx.execute(update(sessions).where(sessions.c.token_hash == digest(token[:_MAX_TOKEN]),
                                                    sessions.c.revoked_at.is_(None))
                             .values(revoked_at=utcnow()))


_PINFL = re.compile(r"[0-9]{14}")

#: Built once: the per-request lookup is the hottest query there is, and a statement object built per
#: call costs SQLAlchemy a fresh cache key every time.
_PRINCIPAL = prepared(
    select(accounts.c.id, accounts.c.kind, accounts.c.login, accounts.c.full_name,
           accounts.c.pinfl, sessions.c.id.label("session_id"), sessions.c.client.label("session_client"),
           sessions.c.expires_at,
           grants.c.facility, grants.c.role)
    .join(sessions, sessions.c.account == accounts.c.id)
    .outerjoin(grants, and_(grants.c.account == accounts.c.id, grants.c.revoked_at.is_(None)))
    .where(sessions.c.token_hash == bindparam("token_hash"), sessions.c.audience == bindparam("audience"),
           sessions.c.revoked_at.is_(None), sessions.c.expires_at > bindparam("now"),
           accounts.c.status == "active")
)


def _content(challenge_id: UUID, nonce: str) -> str:
    """The exact text the client signs: names the purpose, so a signature made for something else
    (a prescription, another challenge) never opens a session."""
    return f"shifo-login:{challenge_id}:{nonce}"


def create(settings: Any, *, storage: Storage) -> LocalIdentity:
    raw = (getattr(settings, "extra", None) or {}).get("identity", {})
    limits = msgspec.convert(raw, throttle.Limits)
    hashing = msgspec.convert(raw.get("hashing", {}), Hashing)
    return LocalIdentity(storage, ttl_seconds=settings.token_ttl_seconds, limits=limits, hashing=hashing)
