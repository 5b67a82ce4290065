"""``ports.conflicts``: which errors are a lost race, and ``run_unit`` re-running a unit of work a
bounded number of times before answering 409. The races themselves are in tests/*/test_races.py."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from core.errors import Conflict, NotFound
from ports import conflicts


class PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def wrapped(cls: type[DBAPIError], orig: Exception) -> DBAPIError:
    return cls("UPDATE x", {}, orig)


def sqlite_error(cls: type[sqlite3.Error], message: str, name: str) -> sqlite3.Error:
    err = cls(message)
    err.sqlite_errorname = name  # type: ignore[attr-defined]
    return err


def test_errors_are_classified_by_sqlstate_and_sqlite_name() -> None:
    assert conflicts.transient(wrapped(DBAPIError, PgError("40P01")))  # deadlock
    assert conflicts.transient(wrapped(DBAPIError, PgError("40001")))  # serialization failure
    assert conflicts.transient(wrapped(OperationalError, sqlite_error(
        sqlite3.OperationalError, "database is locked", "SQLITE_BUSY")))
    assert conflicts.transient(wrapped(OperationalError, sqlite3.OperationalError("database is locked")))
    assert conflicts.unique_violation(wrapped(IntegrityError, PgError("23505")))
    assert conflicts.unique_violation(wrapped(IntegrityError, sqlite_error(
        sqlite3.IntegrityError, "UNIQUE constraint failed: t.x", "SQLITE_CONSTRAINT_UNIQUE")))
    for other in (wrapped(IntegrityError, PgError("23503")), wrapped(DBAPIError, PgError("57P01")),
                  wrapped(OperationalError, sqlite3.OperationalError("no such table: x")),
                  ValueError("database is locked, UNIQUE constraint failed"), NotFound("x")):
        assert not conflicts.conflicting(other), other


class Storage:
    """Counts units; ``commits`` lists the units that ended without error."""

    def __init__(self) -> None:
        self.units = 0
        self.commits: list[int] = []

    @asynccontextmanager
    async def transaction(self, *, readonly: bool = False) -> AsyncIterator[Any]:
        self.units += 1
        yield self.units
        self.commits.append(self.units)


async def test_run_unit_reruns_a_lost_race_then_answers_409(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conflicts, "BACKOFF", 0.0)
    storage = Storage()

    async def deadlocks_twice(tx: int) -> str:
        if tx <= 2:
            raise wrapped(DBAPIError, PgError("40P01"))
        return f"done in unit {tx}"

    assert await conflicts.run_unit(storage, deadlocks_twice) == "done in unit 3"  # type: ignore[arg-type]
    assert storage.commits == [3]

    storage = Storage()

    async def always(tx: int) -> None:
        raise wrapped(IntegrityError, PgError("23505"))

    with pytest.raises(Conflict):
        await conflicts.run_unit(storage, always)  # type: ignore[arg-type]
    assert storage.units == 1 + conflicts.RETRIES and storage.commits == []

    storage = Storage()

    async def refuses(tx: int) -> None:
        raise NotFound("no such stay")

    with pytest.raises(NotFound):  # a domain error is the answer: never re-run
        await conflicts.run_unit(storage, refuses)  # type: ignore[arg-type]
    assert storage.units == 1
