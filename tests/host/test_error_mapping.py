"""Database errors that escape a unit of work, as HTTP answers: only a lost connection or server
is a 503 "unavailable"; a statement's own error (a bug) stays a 500 with its traceback logged; a
lost race that escaped ``run_unit`` is a 409 with a warning; a locked SQLite database is a 503,
not "someone changed the same record". Real driver errors where they can be made here."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import pytest
from litestar import Litestar, get
from litestar.testing import TestClient
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from host.web.problems import HANDLERS


class PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def sqlite_error(run: Callable[[], Any]) -> sqlite3.Error:
    """The error SQLite itself raises for ``run()``."""
    try:
        run()
    except sqlite3.Error as exc:
        return exc
    raise AssertionError("no error")


def named(message: str, name: str) -> sqlite3.OperationalError:
    err = sqlite3.OperationalError(message)
    err.sqlite_errorname = name  # type: ignore[attr-defined]
    return err


def wrapped(cls: type[DBAPIError], orig: BaseException, **kw: Any) -> DBAPIError:
    return cls("SELECT 1", {}, orig, **kw)  # type: ignore[arg-type]


BUGS = {  # a 500, logged with its traceback
    "no-such-column": wrapped(OperationalError, sqlite_error(
        lambda: sqlite3.connect(":memory:").execute("SELECT nope FROM sqlite_master"))),
    "operation-in-progress": wrapped(InterfaceError, asyncpg.exceptions.InterfaceError(
        "cannot perform operation: another operation is in progress")),
    "missing-file": FileNotFoundError(2, "No such file or directory", "var/keys/signer.pem"),
    "undefined-table": wrapped(DBAPIError, PgError("42P01")),
}
GONE = {  # a 503 with Retry-After
    "cannot-open": wrapped(OperationalError, sqlite_error(lambda: sqlite3.connect("/nonexistent/dir/x.db"))),
    "disk-io": wrapped(OperationalError, named("disk I/O error", "SQLITE_IOERR_WRITE")),
    "connection-failure": wrapped(DBAPIError, PgError("08006")),
    "admin-shutdown": wrapped(OperationalError, PgError("57P01")),
    "refused": ConnectionRefusedError(111, "Connect call failed"),
    "refused-on-every-address": OSError("Multiple exceptions: [Errno 111] Connect call failed "
                                        "('127.0.0.1', 5432), [Errno 99] Cannot assign requested address"),
    "invalidated": wrapped(DBAPIError, ValueError("reset"), connection_invalidated=True),
    "closed": wrapped(InterfaceError, asyncpg.exceptions.InterfaceError("connection is closed")),
    "gone-mid-statement": wrapped(DBAPIError, asyncpg.exceptions.ConnectionDoesNotExistError(
        "connection was closed in the middle of operation")),
}
ERRORS: dict[str, BaseException] = {
    **BUGS, **GONE,
    "locked": wrapped(OperationalError, named("database is locked", "SQLITE_BUSY")),
    "unique": wrapped(IntegrityError, PgError("23505")),
}


@get("/raise/{case:str}", sync_to_thread=False)
def raising(case: str) -> None:
    raise ERRORS[case]


@pytest.fixture
def client() -> Iterator[TestClient[Litestar]]:
    with TestClient(Litestar([raising], exception_handlers=HANDLERS)) as client:
        yield client


@pytest.mark.parametrize("case", BUGS)
def test_a_statements_own_error_is_a_logged_500(client: TestClient[Litestar], case: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    r = client.get(f"/raise/{case}")
    assert r.status_code == 500 and "retry-after" not in r.headers
    assert any(rec.exc_info for rec in caplog.records if rec.levelno >= logging.ERROR)


@pytest.mark.parametrize("case", GONE)
def test_a_lost_connection_or_server_is_a_503_to_retry(client: TestClient[Litestar], case: str) -> None:
    r = client.get(f"/raise/{case}")
    assert r.status_code == 503 and int(r.headers["retry-after"]) > 0
    assert r.headers["content-type"].startswith("application/problem+json")


def test_a_locked_sqlite_database_outside_a_write_unit_is_busy_not_a_conflict(
        client: TestClient[Litestar]) -> None:
    r = client.get("/raise/locked")
    assert r.status_code == 503 and "busy" in r.json()["detail"] and int(r.headers["retry-after"]) > 0


def test_a_lost_race_that_escaped_its_unit_is_a_409_with_a_warning(client: TestClient[Litestar],
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="shifo.web")
    r = client.get("/raise/unique")
    assert r.status_code == 409
    assert [rec.levelno for rec in caplog.records if "escaped its unit" in rec.getMessage()] == [logging.WARNING]
