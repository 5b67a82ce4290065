"""Alembic migrations: one branch per module plus the host's, applied for the enabled modules.

The branches live with their owners (``host/migrations``, ``plugins/<module>/migrations``); this
adapter only runs them, over the same async engine the application uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from adapters.storage.engine import JSON_CODING

_SCRIPT_DIR = Path(__file__).parent / "alembic"


def _config(locations: dict[str, str]) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPT_DIR))
    cfg.set_main_option("version_locations", " ".join(locations.values()))
    cfg.set_main_option("path_separator", "space")
    return cfg


@asynccontextmanager
async def _unbounded(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """PostgreSQL: an engine of its own without the application's statement timeout, since an
    index built on a large table may take minutes."""
    if engine.dialect.name != "postgresql":
        yield engine
        return
    own = create_async_engine(engine.url, poolclass=NullPool, **JSON_CODING)
    try:
        yield own
    finally:
        await own.dispose()


async def upgrade(engine: AsyncEngine, locations: dict[str, str], target: str = "heads") -> None:
    """Apply every revision of the given branches (label -> versions directory)."""
    await _run(engine, locations, command.upgrade, target)


async def downgrade(engine: AsyncEngine, locations: dict[str, str], target: str = "base") -> None:
    await _run(engine, locations, command.downgrade, target)


async def _run(engine: AsyncEngine, locations: dict[str, str], alembic_command: Callable[[Config, str], None],
               target: str) -> None:
    """Run an Alembic command in one transaction on the engine's connection (no timeout on PostgreSQL)."""
    cfg = _config(locations)

    def run(sync_conn: Any) -> None:
        cfg.attributes["connection"] = sync_conn
        alembic_command(cfg, target)

    async with _unbounded(engine) as unbounded, unbounded.begin() as conn:
        await conn.run_sync(run)


async def current(engine: AsyncEngine) -> set[str]:
    def read(sync_conn: Any) -> set[str]:
        return set(MigrationContext.configure(sync_conn).get_current_heads())

    async with engine.connect() as conn:
        return await conn.run_sync(read)


def revisions(locations: dict[str, str]) -> list[str]:
    """Every revision, base first (the stairway test walks them one by one)."""
    script = ScriptDirectory.from_config(_config(locations))
    return [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]


def below(locations: dict[str, str], revision: str) -> str:
    """The ``downgrade`` target that undoes ``revision`` alone, leaving the other branches be.

    A branch's first revision goes to ``<revision>@base``; a merge point steps back one (``-1``).
    """
    down = ScriptDirectory.from_config(_config(locations)).get_revision(revision).down_revision
    if down is None:
        return f"{revision}@base"
    return down if isinstance(down, str) else f"{revision}-1"
