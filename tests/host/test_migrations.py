"""Migrations: every branch (host, identity, each enabled module) walks up one revision at a time,
back down to base one revision at a time, and up again to the same schema, on both databases."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage import migrate
from host.runtime import Runtime
from host.settings import Settings
from tests.host.plugins import probe
from tests.host.test_outbox_relay import Pinged, publish, recorder, wait_for_empty_outbox
from tests.support import ALL_MODULES


def _snapshot(sync_conn: Any) -> dict[str, Any]:
    found = inspect(sync_conn)
    return {
        table: (sorted(c["name"] for c in found.get_columns(table)),
                sorted(str(i["name"]) for i in found.get_indexes(table)))
        for table in found.get_table_names() if table != "alembic_version"
    }


async def schema(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_snapshot)


async def test_stairway_up_down_up_for_every_branch(db_url: str) -> None:
    rt = Runtime.plan(Settings(database_url=db_url, modules=ALL_MODULES, run_relay=False))
    await rt.open()
    try:
        engine: AsyncEngine = rt.storage.engine  # type: ignore[attr-defined]
        locations = rt.migration_locations()
        assert {"host", "identity", *rt.modules.migrations()} == set(locations)
        steps = migrate.revisions(locations)
        assert len(steps) >= len(locations)
        before: list[dict[str, Any]] = []
        for revision in steps:
            before.append(await schema(engine))
            await migrate.upgrade(engine, locations, revision)
        top = await schema(engine)
        assert {"shifo_outbox", "facilities", "accounts"} <= set(top)
        for revision, expected in reversed(list(zip(steps, before, strict=True))):
            await migrate.downgrade(engine, locations, migrate.below(locations, revision))
            assert await schema(engine) == expected, f"downgrading {revision} left a different schema"
        assert await schema(engine) == {} and await migrate.current(engine) == set()
        await rt.migrate()
        assert await schema(engine) == top
    finally:
        await rt.stop()


async def test_migrating_beside_a_busy_relay_in_one_event_loop(db_url: str) -> None:
    """A server that migrates at start-up: open, migrate and start one runtime, then migrate its
    branches down and up while the relay polls and delivers in the same loop; nothing hangs."""
    seen: list[Any] = []
    plugins = {"probe": probe(handlers=[recorder("probe.migrating", seen)])}
    settings = Settings(database_url=db_url, modules=(*ALL_MODULES, "probe"), relay_poll_seconds=0.01)
    rt = Runtime.plan(settings, plugins)
    await rt.open()
    try:
        await rt.migrate()
        await rt.start()
        engine: AsyncEngine = rt.storage.engine  # type: ignore[attr-defined]
        locations = rt.migration_locations()
        others = [label for label in locations if label != "host"]

        async def writer() -> None:
            for n in range(30):
                await publish(rt.storage, Pinged(n=n))
                await asyncio.sleep(0.005)

        async def migrations() -> None:
            for _ in range(2):
                for label in others:
                    await migrate.downgrade(engine, locations, f"{label}@base")
                await migrate.upgrade(engine, locations)

        async with asyncio.timeout(30):
            await asyncio.gather(writer(), migrations())
            await wait_for_empty_outbox(rt.storage)
        assert sorted(n for _, n in seen) == list(range(30))
    finally:
        await rt.stop()
