"""Entry point ``storage.sqlalchemy``: the storage adapter for the URL in the settings."""

from __future__ import annotations

from typing import Any

from adapters.storage.engine import make_engine
from adapters.storage.store import SqlStorage


def create(settings: Any) -> SqlStorage:
    engine = make_engine(settings.database_url, pool_size=settings.pool_size, echo=settings.db_echo)
    return SqlStorage(engine, held=2 * settings.pool_size)  # the pool: pool_size + max_overflow
