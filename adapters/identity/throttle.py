"""Sign-in throttling, counted in the database so every host process sees the same numbers.

Failed password sign-ins are counted per login, per client address and per resolved account. Past
``slow_after`` failures each further attempt must wait (doubling, capped at ``max_delay_seconds``):
earlier attempts get 429. At ``lock_after`` a *login* (or a client address at
``client_lock_after``) is locked for ``lock_seconds``: 423. Unknown logins are counted exactly like
known ones, so the answers never reveal whether a login exists. A success clears the login's and the
account's counters (not the address's).

The account's own counter only slows, never locks. A patient may sign in under their login or their
PINFL, and PINFLs are semi-public: were the account locked, anyone could lock a patient out by
guessing under their PINFL. So guessing under one alias locks that alias only; the account counter
caps the rate of guesses across all aliases together (one per ``max_delay_seconds`` once slowed),
and the holder can still sign in under the other alias once its short wait has passed, or at once
with EDS, which no password counter blocks (:func:`client_keys`). The price: a guesser who keeps going
keeps the account's password sign-in slowed (429, at most ``max_delay_seconds`` after each guess),
and 429s under one alias show that both name one account.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import msgspec
from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.identity.tables import login_failures as lf
from ports.identity import Locked, Throttled
from ports.storage import Transaction


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Tunable from settings ``extra["identity"]`` (``SHIFO_EXTRA='{"identity": {...}}'``)."""

    slow_after: int = 3
    lock_after: int = 10
    client_slow_after: int = 20
    client_lock_after: int = 100
    delay_seconds: float = 1.0
    max_delay_seconds: float = 60.0
    lock_seconds: int = 900
    max_sessions: int = 5  # the oldest session is revoked when a new one would exceed it
    challenge_ttl_seconds: int = 120


Key = tuple[str, int, int | None]  # (key, slow_after, lock_after: None never locks)


def keys(limits: Limits, login: str, client: str, account: object = None) -> list[Key]:
    """(key, slow_after, lock_after) for the login, the client address and the account (if known):
    the account is only ever slowed (see the module's docstring)."""
    found = [(f"account:{account}", limits.slow_after, None)] if account is not None else []
    return [(f"login:{login[:150]}", limits.slow_after, limits.lock_after), *client_keys(limits, client),
            *found]


def client_keys(limits: Limits, client: str) -> list[Key]:
    """The address alone: what an EDS sign-in (a signed one-time challenge, no password to guess)
    counts and is checked against, so password guesses never block it."""
    return [(f"client:{client[:64]}", limits.client_slow_after, limits.client_lock_after)]


def _seconds(until: datetime, now: datetime) -> int:
    return max(1, math.ceil((until - now).total_seconds()))


async def check(tx: Transaction, limits: Limits, keyset: list[Key], now: datetime) -> None:
    """Raise :class:`Locked` or :class:`Throttled` (the longest wait) if any key must wait."""
    fresh = now - timedelta(seconds=limits.lock_seconds)
    rows = (await tx.execute(select(lf).where(lf.c.key.in_([k for k, _, _ in keyset]),
                                              lf.c.last_failure_at > fresh))).all()
    for row in rows:
        if row.locked_until is not None and row.locked_until > now:
            raise Locked("sign-in is locked after repeated failures; try again later",
                         retry_after=_seconds(row.locked_until, now))
    waits = [r.next_allowed_at for r in rows if r.next_allowed_at is not None and r.next_allowed_at > now]
    if waits:
        raise Throttled("too many failed sign-ins; wait before trying again",
                        retry_after=_seconds(max(waits), now))


async def failed(tx: Transaction, limits: Limits, keyset: list[Key], now: datetime) -> None:
    """Count one failure for every key, atomically (an upsert), and set its wait or lock."""
    fresh = now - timedelta(seconds=limits.lock_seconds)
    ins = postgresql.insert if tx.dialect == "postgresql" else sqlite.insert
    for key, slow_after, lock_after in keyset:
        upsert = ins(lf).values(key=key, failures=1, last_failure_at=now).on_conflict_do_update(
            index_elements=[lf.c.key], set_={
            "failures": case((lf.c.last_failure_at > fresh, lf.c.failures + 1), else_=1),
            "last_failure_at": now, "next_allowed_at": None, "locked_until": None,
        }).returning(lf.c.failures)
        count = int((await tx.execute(upsert)).scalar_one())
        if lock_after is not None and count >= lock_after:
            values = {"locked_until": now + timedelta(seconds=limits.lock_seconds)}
        elif count >= slow_after:
            delay = min(limits.delay_seconds * 2 ** (count - slow_after), limits.max_delay_seconds)
            values = {"next_allowed_at": now + timedelta(seconds=delay)}
        else:
            continue
        await tx.execute(update(lf).where(lf.c.key == key).values(**values))


async def succeeded(tx: Transaction, login: str, account: object) -> None:
    await tx.execute(delete(lf).where(lf.c.key.in_([f"login:{login[:150]}", f"account:{account}"])))
