"""Units of work through the storage port: what commits, what rolls back, and that a failed or
cancelled unit leaves the storage fit for the next one (on PostgreSQL its connections are held
out of SQLAlchemy's pool and reused, so a broken one must never come back)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateTable

from adapters.storage.engine import make_engine
from adapters.storage.store import SqlStorage
from ports.storage import prepared
from tests.host.test_outbox_relay import migrated

marks = Table("test_units_marks", MetaData(), Column("id", String(36), primary_key=True),
              Column("n", Integer, nullable=False))
COUNT = select(func.count()).select_from(marks)
SLEEP = prepared(select(func.pg_sleep(bindparam("seconds"))))  # on asyncpg directly, not SQLAlchemy


def mark(n: int = 0) -> dict[str, object]:
    return {"id": str(uuid.uuid4()), "n": n}


@pytest.fixture
async def storage(db_url: str) -> AsyncIterator[SqlStorage]:
    store = SqlStorage(make_engine(db_url), held=2)
    async with store.transaction() as tx:
        await tx.execute(CreateTable(marks))
    yield store
    await store.close()


async def count(storage: SqlStorage) -> int:
    async with storage.transaction(readonly=True) as tx:
        return int((await tx.execute(COUNT)).scalar_one())


async def test_an_error_rolls_the_unit_back_and_the_next_unit_works(storage: SqlStorage) -> None:
    with pytest.raises(RuntimeError):
        async with storage.transaction() as tx:
            await tx.execute(marks.insert(), mark())
            raise RuntimeError("the caller failed after writing")
    with pytest.raises(DBAPIError):
        async with storage.transaction() as tx:
            await tx.execute(marks.insert(), mark())
            await tx.execute(text("SELECT no_such_column FROM test_units_marks"))
    for _ in range(4):  # more units than connections: each came back usable
        async with storage.transaction() as tx:
            await tx.execute(marks.insert(), mark())
    assert await count(storage) == 4


async def test_a_cancelled_unit_commits_nothing_and_leaves_no_broken_connection(storage: SqlStorage) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with storage.transaction() as tx:
            await tx.execute(marks.insert(), mark())
            started.set()
            if tx.dialect == "postgresql":  # cancelled while a statement runs on the server
                await tx.execute(SLEEP, {"seconds": 5})
            else:
                await asyncio.sleep(5)

    task = asyncio.create_task(slow())
    await started.wait()
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(3):
        async with storage.transaction() as tx:
            await tx.execute(marks.insert(), mark(1))
    assert await count(storage) == 3


async def test_units_beyond_the_held_connections_wait_for_one(storage: SqlStorage) -> None:
    async def unit(n: int) -> None:
        async with storage.transaction() as tx:
            await tx.execute(marks.insert(), mark(n))
            if tx.dialect == "postgresql":
                await tx.execute(text("SELECT pg_sleep(0.1)"))

    began = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*(unit(n) for n in range(6))), 20)
    assert await count(storage) == 6
    assert time.monotonic() - began < 10  # none waited out SQLAlchemy's 30 s pool timeout


@pytest.mark.parametrize("db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_a_read_only_unit_sends_no_begin_and_a_write_unit_is_one_transaction(storage: SqlStorage) -> None:
    """PostgreSQL only: SQLite has no transaction ids (its read-only unit is BEGIN DEFERRED)."""
    now = text("SELECT txid_current()")
    async with storage.transaction(readonly=True) as tx:
        first, second = (await tx.execute(now)).scalar_one(), (await tx.execute(now)).scalar_one()
    assert first != second  # autocommit: each statement its own transaction
    async with storage.transaction() as tx:
        first, second = (await tx.execute(now)).scalar_one(), (await tx.execute(now)).scalar_one()
    assert first == second


@pytest.mark.postgres
async def test_only_the_relays_batch_commits_without_waiting_for_the_disk(pg_url: str) -> None:
    """A lost relay batch is delivered again; a request's commit must be on disk when it answers."""
    show = text("SHOW synchronous_commit")
    async with migrated(pg_url) as store:
        async with store.transaction() as tx:
            assert (await tx.execute(show)).scalar_one() == "on"
        async with store.outbox.claim(10) as claimed, claimed.transaction() as tx:
            assert (await tx.execute(show)).scalar_one() == "off"
        async with store.transaction() as tx:  # the setting was the batch's own (SET LOCAL)
            assert (await tx.execute(show)).scalar_one() == "on"


@pytest.mark.postgres
async def test_a_lock_taken_with_begin_is_held_until_the_unit_ends(pg_url: str) -> None:
    """The relay's claim sends its advisory lock with BEGIN: held for the whole unit, released at
    its end; a read-only unit, which sends no BEGIN, cannot take one."""
    held = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
    store = SqlStorage(make_engine(pg_url))
    try:
        async with store.transaction(lock=4242) as tx:
            assert (await tx.execute(held)).scalar_one() == 1
            assert (await tx.execute(held)).scalar_one() == 1  # still, a statement later
        async with store.transaction() as tx:
            assert (await tx.execute(held)).scalar_one() == 0
        with pytest.raises(ValueError, match="read-only"):
            store.transaction(readonly=True, lock=4242)
    finally:
        await store.close()
