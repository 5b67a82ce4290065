"""Telling a lost database from a failed statement, and saying so once per outage.

A request that meets a database that is down answers 503 with ``Retry-After``
(:class:`core.errors.Unavailable`), never 500; the log gets one line when the outage begins and
one when it ends, per process, not a traceback per request. A connection lost during ``COMMIT``
is :class:`core.errors.OutcomeUnknown` instead: the change may be stored, so no ``Retry-After``.
"""

from __future__ import annotations

import logging
import time

import asyncpg
from sqlalchemy import exc as sa_exc

from core.errors import OutcomeUnknown, Unavailable

log = logging.getLogger("shifo.storage")
_LOST_DRIVER = (
    OSError,  # refused, reset, unreachable, name not resolved
    TimeoutError,  # connecting or a pool wait took longer than the fail-fast time
    asyncpg.exceptions.PostgresConnectionError,  # class 08: the connection failed or is gone
    asyncpg.exceptions.CannotConnectNowError,  # the server is starting or shutting down
    asyncpg.exceptions.AdminShutdownError,  # pg_terminate_backend, a fast shutdown
    asyncpg.exceptions.CrashShutdownError,  # another backend crashed: the server restarts
    asyncpg.exceptions.TooManyConnectionsError,
    sa_exc.DisconnectionError,
)


def lost(error: BaseException) -> bool:
    """Did the connection or the server fail (not the statement)? Follows SQLAlchemy's wrapping
    (``orig``) and explicit causes a few levels down."""
    seen: BaseException | None = error
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, _LOST_DRIVER):
            return True
        if isinstance(seen, sa_exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, asyncpg.InterfaceError) and "connection is closed" in str(seen):
            return True
        nested = getattr(seen, "orig", None)
        seen = nested if isinstance(nested, BaseException) else seen.__cause__
    return False


class Outage:
    """Whether this process currently finds the database down, logged on each change only."""

    __slots__ = ("busy_logged", "since")

    def __init__(self) -> None:
        self.since: float | None = None
        self.busy_logged = -60.0

    def busy(self, size: int, waited: float) -> Unavailable:
        """Every connection stayed in use for ``waited`` seconds: overloaded, not down (logged
        at most once a minute)."""
        if time.monotonic() - self.busy_logged >= 60.0:
            self.busy_logged = time.monotonic()
            log.warning("all %d database connections stayed busy for %.1f s: answering 503", size, waited)
        return Unavailable("Every database connection is busy just now; try again shortly.")

    def unavailable(self, error: BaseException) -> Unavailable:
        """The error to raise for ``error``; logs the outage's first one."""
        if self.since is None:
            self.since = time.monotonic()  # the driver's message only, never the SQL
            log.error("database unreachable (%s: %s): answering 503 until it returns",
                      type(error).__name__, (str(error) or "no answer in time").split("\n", 1)[0][:300])
        return Unavailable("The database cannot be reached just now; try again shortly.")

    def commit_failed(self, error: BaseException) -> OutcomeUnknown:
        """``COMMIT`` was sent and the connection failed before its answer: stored or not, nobody
        can tell here."""
        self.unavailable(error)  # the outage's line, once
        return OutcomeUnknown("The database connection failed while this change was being saved: "
                              "it may or may not be stored. Read the record before you retry.")

    def over(self) -> None:
        if self.since is not None:
            log.warning("database reachable again after %.1f s", time.monotonic() - self.since)
            self.since = None
