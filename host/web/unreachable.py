"""A dependency's connection error that reached the web layer raw: 503, logged once a minute.

The storage adapter raises :class:`core.errors.Unavailable` itself (and logs the outage once);
this is the safety net for a connection error raised outside its units of work, so it too
answers 503 with ``Retry-After`` and leaves one log line, not a traceback per request.
"""

from __future__ import annotations

import logging
import socket
import time

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from core.errors import Unavailable

log = logging.getLogger("shifo.web")
_LOST = (ConnectionError, TimeoutError, socket.gaierror, DisconnectionError, InterfaceError, OperationalError)
#: SQLSTATEs of a lost server: class 08 (connection exception), and 57P01-57P03 (shut down by an
#: administrator, crashed, starting up); the drivers' errors carry ``sqlstate``
_SERVER_GONE = ("08", "57P01", "57P02", "57P03")
_QUIET_SECONDS = 60.0
_logged = [-_QUIET_SECONDS]


def lost(exc: BaseException) -> bool:
    for seen in (exc, getattr(exc, "orig", None), exc.__cause__):
        if isinstance(seen, _LOST) or (isinstance(seen, DBAPIError) and seen.connection_invalidated):
            return True
        if str(getattr(seen, "sqlstate", None) or "").startswith(_SERVER_GONE):
            return True
    return False


def unavailable(exc: BaseException) -> Unavailable:
    now = time.monotonic()
    if now - _logged[0] >= _QUIET_SECONDS:
        _logged[0] = now
        log.error("a dependency is unreachable (%s: %s): answering 503", type(exc).__name__,
                  str(exc).split("\n", 1)[0][:200])
    return Unavailable("A service this request needs cannot be reached just now; try again shortly.")
