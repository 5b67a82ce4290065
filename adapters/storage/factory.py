"""Entry point ``storage.sqlalchemy``: the storage adapter for the URL in the settings."""

from __future__ import annotations

from typing import Any

from adapters.storage.engine import make_engine
from adapters.storage.store import SqlStorage


def create(settings: Any) -> SqlStorage:
    timeout = settings.pool_timeout_seconds
    engine = make_engine(settings.database_url, echo=settings.db_echo, connect_timeout=timeout)
    # PostgreSQL: up to twice pool_size connections per process, as SQLAlchemy's pool with its
    # overflow allowed before the adapter held them itself
    return SqlStorage(engine, held=2 * settings.pool_size, timeout=timeout)
