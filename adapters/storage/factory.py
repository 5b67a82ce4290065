"""Entry point ``storage.sqlalchemy``: the storage adapter for the URL in the settings."""

from __future__ import annotations

from typing import Any

from adapters.storage.engine import make_engine
from adapters.storage.store import SqlStorage


def create(settings: Any) -> SqlStorage:
    timeout = settings.pool_timeout_seconds
    statements = settings.db_command_timeout_seconds or None  # 0: no limit
    engine = make_engine(settings.database_url, echo=settings.db_echo, connect_timeout=timeout,
                         command_timeout=statements)
    # PostgreSQL: up to twice pool_size connections per process, as SQLAlchemy's pool with its
    # overflow allowed before the adapter held them itself. The relay's claim waits for another
    # process's relay at most half the statement timeout, so it fails as a lock wait (one
    # "relay paused" line), not as a connection that stopped answering.
    return SqlStorage(engine, held=2 * settings.pool_size, timeout=timeout,
                      lock_wait=(statements or 20.0) / 2)
