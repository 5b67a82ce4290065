"""The relay's floor: passes right after a commit claim only above it, yet nothing is missed.

A transaction that drew its ``seq`` before another committed, and commits after it, must still be
delivered right after its own commit; a row put back below the floor (``events retry`` from
another process) is found by the periodic pass from the bottom."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, select, update

from adapters.storage.tables import outbox
from host import relay as relay_module
from host.relay import Relay
from ports.storage import Storage
from tests.host.test_outbox_relay import Pinged, migrated, publish, recorder, wait_for_empty_outbox


async def seqs(storage: Storage) -> list[int]:
    async with storage.transaction(readonly=True) as tx:
        return [r.seq for r in await tx.execute(select(outbox.c.seq).order_by(outbox.c.seq))]


async def delivered(storage: Storage, seq: int) -> bool:
    async with storage.transaction(readonly=True) as tx:
        row = (await tx.execute(select(outbox.c.delivered_at).where(outbox.c.seq == seq))).one()
    return row.delivered_at is not None


async def eventually(check: Any, within: float) -> None:
    async with asyncio.timeout(within):
        while not await check():
            await asyncio.sleep(0.02)


@asynccontextmanager
async def running(storage: Storage, consumer: str, seen: list[Any] | None = None) -> AsyncIterator[Relay]:
    """A started relay with fast timers, stopped at the end of the block."""
    relay = Relay(storage, [recorder(consumer, [] if seen is None else seen)],
                  poll_seconds=0.05, backoff_seconds=0.05)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.stop()


async def floor_reaches(relay: Relay, seq: int, within: float = 5) -> None:
    """The horizon may first wait out its check of a hole, so give the timer a few passes."""
    async def risen() -> bool:
        return relay.floor >= seq

    await eventually(risen, within)


async def test_a_claim_after_a_seq_holds_only_the_events_above_it(db_url: str) -> None:
    async with migrated(db_url) as storage:
        await publish(storage, *(Pinged(n=n) for n in range(5)))
        every = await seqs(storage)
        async with storage.outbox.claim(10, every[2]) as claimed:
            assert [e.seq for e in claimed.events] == every[3:]
            assert [e.event.n for e in claimed.events] == [3, 4]  # type: ignore[attr-defined]
        async with storage.outbox.claim(10) as claimed:  # by default: from the bottom
            assert [e.seq for e in claimed.events] == every


async def test_the_floor_rises_to_what_is_delivered(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay_module, "FULL_SCAN_SECONDS", 3600.0)
    async with migrated(db_url) as storage:
        await publish(storage, *(Pinged(n=n) for n in range(20)))
        async with running(storage, "t.floor") as relay:
            await wait_for_empty_outbox(storage)
            await floor_reaches(relay, (await seqs(storage))[-1])


@pytest.mark.postgres
async def test_an_event_committed_after_a_later_seq_is_delivered_at_its_commit(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL draws a seq before commit, so seq order and commit order can differ."""
    monkeypatch.setattr(relay_module, "FULL_SCAN_SECONDS", 3600.0)  # only the floor can find it
    seen: list[Any] = []
    async with migrated(pg_url) as storage, running(storage, "t.late", seen):
        async with storage.transaction() as late:
            await late.publish(Pinged(n=1))  # its seq is drawn now
            await publish(storage, Pinged(n=2))
            await eventually(lambda: _has(seen, 2), 5)
            await asyncio.sleep(0.8)  # timer passes raise the floor as far as they may
            assert not seen.count((None, 1))
        await eventually(lambda: _has(seen, 1), 1.0)  # woken by the commit: a pass above the floor


async def _has(seen: list[Any], n: int) -> bool:
    return (None, n) in seen


async def test_a_row_put_back_below_the_floor_is_found_by_the_pass_from_the_bottom(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay_module, "FULL_SCAN_SECONDS", 0.5)
    async with migrated(db_url) as storage:
        await publish(storage, *(Pinged(n=n) for n in range(3)))
        async with running(storage, "t.back") as relay:
            await wait_for_empty_outbox(storage)
            first = (await seqs(storage))[0]
            await floor_reaches(relay, first)
            async with storage.transaction() as tx:  # as `shifo events retry` does in its process
                await tx.execute(update(outbox).where(outbox.c.seq == first).values(delivered_at=None))
            await eventually(lambda: delivered(storage, first), 3)
            async with storage.transaction(readonly=True) as tx:
                pending = (await tx.execute(select(func.count()).select_from(outbox)
                                            .where(outbox.c.delivered_at.is_(None)))).scalar_one()
            assert pending == 0
