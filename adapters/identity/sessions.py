"""Opening a session: the per-user cap and the credential-sharing signal.

Over the cap (``max_sessions``) the *oldest* sessions are revoked rather than the sign-in refused:
a user who lost a device must still be able to sign in, and the revoked session cannot outlive the
new one. A sign-in while another live session of the account comes from a different client address
is recorded in ``session_flags`` for the operator (it is not refused: shared networks and roaming
phones make false alarms common; a person reviews the signal). So is a token presented from an
address other than the one it was issued to (:func:`flag_reuse`): ``session`` and ``other_session``
are then the same session, once per (session, address), however many requests come from there.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.identity.tables import session_flags, sessions
from core.clock import utcnow
from core.ids import new_id
from core.principals import AUDIENCE
from ports.identity import Session
from ports.storage import Storage, Transaction

_flagged: set[tuple[Any, str]] = set()  # (session, client) pairs this process has already flagged


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(tx: Transaction, account: Any, client: str, *, ttl: int, max_sessions: int) -> Session:
    now = utcnow()
    client = client[:64]
    live = (await tx.execute(
        select(sessions.c.id, sessions.c.client).where(
            sessions.c.account == account.id, sessions.c.revoked_at.is_(None), sessions.c.expires_at > now)
        .order_by(sessions.c.created_at, sessions.c.id))).all()
    session_id = new_id()
    elsewhere = [s for s in live if s.client != client]
    if elsewhere:
        other = elsewhere[-1]
        await tx.execute(session_flags.insert().values(
            id=new_id(), account=account.id, session=session_id, client=client,
            other_session=other.id, other_client=other.client, created_at=now))
    excess = len(live) - max(max_sessions, 1) + 1
    if excess > 0:
        oldest = [s.id for s in live[:excess]]
        await tx.execute(update(sessions).where(sessions.c.id.in_(oldest)).values(revoked_at=now))
    token = secrets.token_urlsafe(32)
    await tx.execute(sessions.insert().values(
        id=session_id, account=account.id, token_hash=digest(token), audience=AUDIENCE[account.kind],
        client=client, created_at=now, expires_at=now + timedelta(seconds=ttl)))
    return Session(access_token=token, token_type="Bearer", expires_in=ttl)  # noqa: S106


async def flag_reuse(storage: Storage, row: Any, client: str) -> None:
    """Flag ``row``'s session (an authenticated token) as presented from ``client``, an address other
    than its own. A process asks the database once per pair; the unique index keeps one row per pair
    across processes. Costs nothing on the hot path while the token stays at its own address."""
    key = (row.session_id, client[:64])
    if key in _flagged:
        return
    async with storage.transaction() as tx:
        ins = postgresql.insert if tx.dialect == "postgresql" else sqlite.insert
        await tx.execute(ins(session_flags).values(
            id=new_id(), account=row.id, session=row.session_id, client=key[1],
            other_session=row.session_id, other_client=row.session_client, created_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=[session_flags.c.session, session_flags.c.client]))
    if len(_flagged) > 100_000:  # bounded: forgetting only costs one more no-op insert
        _flagged.clear()
    _flagged.add(key)
