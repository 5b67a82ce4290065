"""A dependency's connection error that reached the web layer raw: 503, logged once a minute.

The storage adapter raises :class:`core.errors.Unavailable` itself (and logs the outage once);
this is the safety net for a connection error raised outside its units of work, so it too
answers 503 with ``Retry-After`` and leaves one log line, not a traceback per request.

Only a fault of the connection or the server counts: every other database error (a missing
column, "another operation is in progress" on a connection used twice at once) is a bug and
stays a logged 500. Errors are told apart by the attributes drivers give them (``sqlstate``,
``sqlite_errorname``), so this knows no driver.
"""

from __future__ import annotations

import errno
import logging
import socket
import time

from sqlalchemy.exc import DBAPIError, DisconnectionError

from core.errors import Unavailable

log = logging.getLogger("shifo.web")
#: SQLSTATEs of a lost server: class 08 (connection exception), 57P01-57P03 (shut down by an
#: administrator, crashed, starting up) and 53300 (too many connections)
_SERVER_GONE = ("08", "57P01", "57P02", "57P03", "53300")
#: SQLite: the database file cannot be opened or read (a lost volume), with extended codes
_FILE_GONE = ("SQLITE_CANTOPEN", "SQLITE_IOERR")
_NETWORK = frozenset({errno.ECONNREFUSED, errno.ECONNRESET, errno.ETIMEDOUT, errno.EHOSTUNREACH,
                      errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.EADDRNOTAVAIL, errno.EPIPE})
_QUIET_SECONDS = 60.0
_logged = {"unreachable": -_QUIET_SECONDS, "busy": -_QUIET_SECONDS}  # when each was last logged


def _network(error: OSError) -> bool:
    """A socket's failure, not a file's (a missing key file is a bug, not an outage)."""
    if isinstance(error, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if error.errno is None:  # asyncpg's "Multiple exceptions: [Errno 111] Connect call failed ..."
        return "connect call failed" in str(error).lower()
    return error.errno in _NETWORK


def _gone(seen: BaseException) -> bool:
    if isinstance(seen, OSError):
        return _network(seen)
    if isinstance(seen, DisconnectionError):
        return True
    if isinstance(seen, DBAPIError) and seen.connection_invalidated:
        return True
    state = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
    if isinstance(state, str) and state.startswith(_SERVER_GONE):
        return True
    name = getattr(seen, "sqlite_errorname", None)
    if isinstance(name, str) and name.startswith(_FILE_GONE):
        return True
    # asyncpg's InterfaceError once the connection is closed (SQLAlchemy wraps it, word for word)
    return type(seen).__name__ == "InterfaceError" and "connection is closed" in str(seen)


def lost(exc: BaseException) -> bool:
    """Did the connection or the server fail (not the statement)? Follows SQLAlchemy's wrapping
    (``orig``) and explicit causes a few levels down."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if _gone(seen):
            return True
        nested = getattr(seen, "orig", None)
        seen = nested if isinstance(nested, BaseException) else seen.__cause__
    return False


def _once_a_minute(kind: str, level: int, message: str, *args: object) -> None:
    now = time.monotonic()
    if now - _logged[kind] >= _QUIET_SECONDS:
        _logged[kind] = now
        log.log(level, message, *args)


def unavailable(exc: BaseException) -> Unavailable:
    _once_a_minute("unreachable", logging.ERROR, "a dependency is unreachable (%s: %s): answering 503",
                   type(exc).__name__, str(exc).split("\n", 1)[0][:200])
    return Unavailable("A service this request needs cannot be reached just now; try again shortly.")


def busy(exc: BaseException) -> Unavailable:
    """SQLite stayed locked by a writer past its busy timeout, outside ``run_unit`` (which
    re-runs a write unit, then answers 409): a read, most likely."""
    _once_a_minute("busy", logging.WARNING, "the database stayed locked by a writer (%s): answering 503",
                   type(exc).__name__)
    return Unavailable("The database is busy just now; try again shortly.")
