"""A SQLite statement cancelled the way a streaming response's is (anyio's cancel scope cancels
again on every turn of the loop until the task leaves it) leaves no task behind, and the engine
serves the next writer at once, also after a cancelled writer. Before, the connection's graceful
close outlived its worker thread and waited for good: the process (here, the test's event loop)
hung when it shut down; and a connection closed while its cancelled statement was still
referenced lingered (``sqlite3_close_v2``) with its write lock until the garbage collector came."""

from __future__ import annotations

import asyncio
import threading

import anyio
from sqlalchemy import text

from adapters.storage.engine import make_engine
from adapters.storage.store import SqlStorage

SLOW = text("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 400000) "
            "SELECT count(*) FROM r")


async def test_a_statement_cancelled_by_a_cancel_scope_leaves_no_task_behind(tmp_path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    try:
        for begin, delay in [(b, d) for b in ("DEFERRED", "IMMEDIATE") for d in (0.0, 0.005, 0.02)]:
            async with anyio.create_task_group() as group:
                async def read() -> None:
                    async with engine.connect() as conn:  # a read-only unit, or a writer's
                        conn = await conn.execution_options(sqlite_begin=begin)
                        await conn.execute(SLOW)

                group.start_soon(read)
                await asyncio.sleep(delay)
                group.cancel_scope.cancel()
            async with asyncio.timeout(5):  # what the cancelled read started must end on its own
                while left := [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                    await asyncio.sleep(0.02)
            assert not left
            async with asyncio.timeout(5), engine.begin() as conn:  # and serves the next writer
                await conn.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
                await conn.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        await engine.dispose()
    async with asyncio.timeout(5):  # and every connection's thread ends: none is left open
        while [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]:
            await asyncio.sleep(0.02)


async def test_closing_the_storage_waits_for_a_cancelled_statements_thread(tmp_path) -> None:
    """A statement cancelled mid-run keeps running on its connection's thread; the storage's close
    waits for it, so the thread hands its result to a loop that still listens (before, it ran on
    after the close and died of 'Event loop is closed' once the loop had gone)."""
    storage = SqlStorage(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    started = asyncio.Event()

    async def read() -> None:
        async with storage.transaction(readonly=True) as tx:
            started.set()
            await tx.execute(SLOW)

    async with anyio.create_task_group() as group:
        group.start_soon(read)
        await started.wait()
        await asyncio.sleep(0.01)  # the statement is running on the connection's thread
        group.cancel_scope.cancel()
    await storage.close()
    assert not [t for t in threading.enumerate() if "_connection_worker_thread" in t.name]
