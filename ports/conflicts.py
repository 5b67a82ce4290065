"""Conflicting units of work: which database errors mean "somebody else got there first", and the
one helper that re-runs a whole unit of work when that happens (see "Conflicts" in
docs/architecture.md).

A deadlock (PostgreSQL SQLSTATE 40P01), a serialization failure (40001) or a busy SQLite database
aborts a unit that did nothing wrong: run again, it usually passes. A unique violation (23505,
SQLite's UNIQUE constraint) means a concurrent unit committed the same key first: run again, the
unit reads that row and refuses in its own words (a domain 409). Either way :func:`run_unit` tries
a bounded number of times with jittered backoff and then answers :class:`core.errors.Conflict`.

Errors are recognised by the attributes drivers give them (``sqlstate``, ``sqlite_errorname``, or
the standard library's ``sqlite3`` errors), so the port imports no third-party driver.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from core.errors import Conflict
from ports.storage import Storage, Transaction

T = TypeVar("T")

RETRIES = 3  # re-runs after the first attempt
BACKOFF = 0.02  # seconds; the n-th re-run waits a random time up to BACKOFF * 2**n
_TRANSIENT_STATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
_UNIQUE_STATES = frozenset({"23505"})
_TRANSIENT_SQLITE = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_BUSY_SNAPSHOT"})
_UNIQUE_SQLITE = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


def _causes(exc: BaseException) -> list[Any]:
    """The error, the driver's error SQLAlchemy wraps (``orig``) and what that was raised from."""
    out: list[Any] = [exc]
    for _ in range(3):
        nxt = getattr(out[-1], "orig", None) or out[-1].__cause__
        if nxt is None or nxt in out:
            break
        out.append(nxt)
    return out


def _codes(exc: BaseException) -> set[str]:
    found = set()
    for e in _causes(exc):
        for attr in ("sqlstate", "pgcode", "sqlite_errorname"):
            code = getattr(e, attr, None)
            if isinstance(code, str):
                found.add(code)
    return found


def busy(exc: BaseException) -> bool:
    """SQLite stayed locked by another writer past its busy timeout. A write unit re-runs
    (:func:`transient`); a read that meets it is answered 503 by the host, not 409."""
    if _codes(exc) & _TRANSIENT_SQLITE:
        return True
    return any(isinstance(e, sqlite3.OperationalError) and "database is locked" in str(e)
               for e in _causes(exc))


def transient(exc: BaseException) -> bool:
    """A deadlock, a serialization failure or a locked SQLite database: the unit may simply re-run."""
    return bool(_codes(exc) & _TRANSIENT_STATES) or busy(exc)


def unique_violation(exc: BaseException) -> bool:
    """A unique constraint refused a row: a concurrent unit committed the same key first."""
    codes = _codes(exc)
    if codes & (_UNIQUE_STATES | _UNIQUE_SQLITE):
        return True
    return any(isinstance(e, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(e)
               for e in _causes(exc))


def conflicting(exc: BaseException) -> bool:
    """Either of the above: the answer, once retries are spent, is 409."""
    return transient(exc) or unique_violation(exc)


async def run_unit(storage: Storage, work: Callable[[Transaction], Awaitable[T]], *,
                   retries: int = RETRIES) -> T:
    """``await work(tx)`` in one transaction of ``storage``; re-run it whole (new transaction) when
    it lost to a concurrent unit, at most ``retries`` times, then :class:`Conflict`.

    ``work`` must do everything through ``tx`` (rows, events, audit entries): a failed attempt is
    rolled back entirely, so the re-run starts from a clean slate.
    """
    for attempt in range(retries + 1):
        try:
            async with storage.transaction() as tx:
                return await work(tx)
        except Exception as exc:
            if not conflicting(exc):
                raise
            if attempt == retries:
                raise Conflict("a concurrent request changed the same record; read it again and "
                               "retry") from exc
        await asyncio.sleep(random.uniform(0, BACKOFF * 2**attempt))  # noqa: S311 - jitter, not a secret
    raise AssertionError("unreachable")  # pragma: no cover
