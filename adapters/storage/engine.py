"""Engines tuned per database: SQLite for durability and one writer at a time, PostgreSQL pooled."""

from __future__ import annotations

import threading
import time
import weakref
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool


def _to_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


# JSON columns are coded by msgspec rather than the json module: several times faster on the rows
# of every card page.
JSON_CODING = {"json_serializer": _to_json, "json_deserializer": msgspec.json.decode}


def server_settings(command_timeout: float | None) -> dict[str, str]:
    """The server's own guards against a client that vanished (a partition, a frozen host): TCP
    keepalives find its dead socket within about a minute, and a session left idle inside a
    transaction (holding its locks, the relay's claim among them) is ended after twice the
    statement timeout, at least 10 s."""
    idle = max(2 * (command_timeout or 30.0), 10.0)
    return {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10", "tcp_keepalives_count": "3",
            "idle_in_transaction_session_timeout": str(int(idle * 1000))}


def make_engine(url: str, *, echo: bool = False, connect_timeout: float = 3.0,
                command_timeout: float | None = 30.0) -> AsyncEngine:
    """PostgreSQL: no pool of SQLAlchemy's (``NullPool``): the adapter holds its connections
    itself (:mod:`adapters.storage.held`), and a second count could disagree with its own. A
    connection attempt gives up after ``connect_timeout`` seconds, a statement (on a connection
    that stopped answering, say) after ``command_timeout`` (None: never)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _sqlite_directory(Path(parsed.database).parent)
        engine = create_async_engine(parsed, echo=echo, connect_args={"timeout": 30}, **JSON_CODING)
        _tune_sqlite(engine)
        engine.sync_engine.dialect.do_terminate = _stop_sqlite  # type: ignore[method-assign]
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(parsed, echo=echo, poolclass=NullPool, connect_args={
            "timeout": connect_timeout, "command_timeout": command_timeout,
            "server_settings": server_settings(command_timeout)}, **JSON_CODING)
    raise ValueError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")


def _sqlite_directory(parent: Path) -> None:
    """Only ``var/`` (the embedded default, ``make run``) is made: any other missing directory is
    a mistyped path, refused by name rather than created silently."""
    if parent.is_dir():
        return
    if parent.name == "var" and parent.parent.is_dir():
        parent.mkdir(exist_ok=True)
        return
    raise ValueError(f"the directory {str(parent)!r} of the SQLite database does not exist")


def _stop_sqlite(dbapi_connection: Any) -> None:
    """How SQLite connections are terminated (a cancelled statement, say): aiosqlite's ``stop()``,
    which closes the connection on its own thread after what is queued there, and waits for nothing.
    The dialect's own way awaits a graceful ``close()`` in a task of its own; when the caller is
    cancelled again meanwhile (anyio's cancel scopes do so, a streaming response's among them) it
    stops the thread under that ``close()``, which then never ends: a task left behind for good,
    and a process (or a test's event loop) that hangs when it shuts down and waits for it.

    A rollback is queued first: a connection closed while its cancelled statement is still
    referenced (by the exception's traceback) is not closed but lingers (``sqlite3_close_v2``),
    holding its transaction and the write lock until the garbage collector finalises the statement;
    a ROLLBACK aborts pending statements and releases the lock at once. aiosqlite has no public way
    to queue a call without awaiting it, hence its queue (``_tx``)."""
    driver = dbapi_connection.driver_connection
    sqlite = driver._connection
    if sqlite is not None:
        driver._tx.put_nowait((None, sqlite.rollback))
    driver.stop()
    _TERMINATED.add(driver._thread)


#: the worker threads of terminated SQLite connections (:func:`join_terminated`)
_TERMINATED: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def join_terminated(seconds: float) -> None:
    """Wait, at most ``seconds`` in all, for the threads of terminated SQLite connections to finish
    what was queued on them. Called as the storage closes: a thread still running its cancelled
    statement when the event loop closes cannot hand it the result, and dies of that."""
    deadline = time.monotonic() + seconds
    for thread in list(_TERMINATED):
        thread.join(max(0.0, deadline - time.monotonic()))


def _tune_sqlite(engine: AsyncEngine) -> None:
    """WAL with synchronous=FULL, so an acknowledged write survives a crash; foreign keys on;
    write transactions start with BEGIN IMMEDIATE so concurrent writers queue instead of failing."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")
