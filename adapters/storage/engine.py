"""Engines tuned per database: SQLite for durability and one writer at a time, PostgreSQL pooled."""

from __future__ import annotations

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
_JSON = {"json_serializer": _to_json, "json_deserializer": msgspec.json.decode}


def make_engine(url: str, *, echo: bool = False, connect_timeout: float = 3.0) -> AsyncEngine:
    """PostgreSQL: no pool of SQLAlchemy's (``NullPool``): the adapter holds its connections
    itself (:mod:`adapters.storage.held`), and a second count could disagree with its own. A
    connection attempt gives up after ``connect_timeout`` seconds."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, echo=echo, connect_args={"timeout": 30}, **_JSON)
        _tune_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(parsed, echo=echo, poolclass=NullPool,
                                   connect_args={"timeout": connect_timeout}, **_JSON)
    raise ValueError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite or postgresql")


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
