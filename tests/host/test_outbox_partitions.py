"""The partitioned outbox: every row knows its partition, relays on PostgreSQL take disjoint
partitions without waiting for each other, each patient's events still arrive in commit order,
and the migration gives rows already pending their partition. Also the live readers' queries
behind the storage port (``Outbox.patient_events``)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import insert, select

from adapters.storage import migrate
from adapters.storage.tables import outbox
from core.clock import utcnow
from core.events import Event, encode_event
from core.partitions import PARTITIONS, partition_of
from host.pluginapi import EventHandler
from host.relay import Relay
from host.runtime import Runtime
from ports.storage import Storage, Transaction
from tests.host.test_outbox_relay import (
    PING,
    PONG,
    Pinged,
    Ponged,
    migrated,
    publish,
    settings_for,
    wait_for_empty_outbox,
)
from tests.support import opened


def patients(count: int, *, distinct: bool = True) -> list[str]:
    """``count`` PINFLs, in different partitions when ``distinct`` (at most PARTITIONS of them)."""
    assert not distinct or count <= PARTITIONS
    found: dict[int, str] = {}
    chosen: list[str] = []
    n = 0
    while len(chosen) < count:
        pinfl = f"6{n:013d}"
        n += 1
        part = partition_of(pinfl, uuid.uuid4())
        if distinct and part in found:
            continue
        found[part] = pinfl
        chosen.append(pinfl)
    return chosen


async def partitions(storage: Storage) -> list[tuple[str | None, uuid.UUID, int]]:
    async with storage.transaction(readonly=True) as tx:
        rows = await tx.execute(select(outbox.c.patient, outbox.c.event_id, outbox.c.partition)
                                .order_by(outbox.c.seq))
        return [(r.patient, r.event_id, r.partition) for r in rows]


async def test_the_partition_is_written_with_the_row(db_url: str) -> None:
    async with migrated(db_url) as storage:
        await publish(storage, *(Pinged(n=n, patient=p) for n, p in enumerate(patients(5, distinct=False))),
                      Pinged(n=9))  # without a patient: by its own id
        rows = await partitions(storage)
    assert len(rows) == 6
    assert all(part == partition_of(patient, event_id) for patient, event_id, part in rows)


@pytest.mark.postgres
async def test_claims_take_disjoint_partitions_and_never_wait_for_each_other(pg_url: str) -> None:
    settings = settings_for(pg_url)
    people = patients(4)
    async with opened(settings) as one, opened(settings) as two, opened(settings) as three:
        await publish(one.storage, *(Pinged(n=n, patient=people[n % 4]) for n in range(20)))
        release = asyncio.Event()
        first = await holding(one.storage, 3, release)  # one partition fills it
        began = time.monotonic()
        second = await holding(two.storage, 100, release)
        third = await holding(three.storage, 100, release)
        waited = time.monotonic() - began
        release.set()
        mine = {e.seq for e in first.events}
        theirs = {e.seq for e in second.events}
        assert len(mine) == 3 and len(theirs) == 15 and not mine & theirs  # never the same row
        assert {e.event.patient for e in first.events} == {people[0]}  # the oldest partition
        assert people[0] not in {e.event.patient for e in second.events}
        assert (first.busy, second.busy) == (0, 1)  # second skipped the partition first holds
        assert third.events == [] and third.busy == 4  # all held: empty at once, and it says why
        assert waited < 1.0
        await released()
        async with two.storage.outbox.claim(100) as again:  # rolled back: all pending again
            assert len(again.events) == 20 and again.busy == 0


HELD: set[asyncio.Task[None]] = set()


async def holding(storage: Storage, limit: int, release: asyncio.Event) -> Any:
    """A claim held by a task of its own (as by a relay: a task's claim makes its other units
    savepoints of it, whatever the storage) until ``release``; its batch."""
    got: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def hold() -> None:
        async with storage.outbox.claim(limit) as claimed:
            got.set_result(claimed)
            await release.wait()

    task = asyncio.get_running_loop().create_task(hold())
    HELD.add(task)
    task.add_done_callback(HELD.discard)
    return await asyncio.wait_for(got, 5)


async def released() -> None:
    await asyncio.wait_for(asyncio.gather(*HELD), 5)


@pytest.mark.postgres
async def test_retries_keep_one_claim_for_all_relays(pg_url: str) -> None:
    settings = settings_for(pg_url)
    async with opened(settings) as one, opened(settings) as two:
        await publish(one.storage, Pinged(n=1))
        release, later = asyncio.Event(), asyncio.Event()
        retries = await holding(one.storage, 0, release)
        assert retries.events == []
        batch = await holding(two.storage, 10, release)  # batches do not wait for retries
        assert len(batch.events) == 1
        waiting = asyncio.ensure_future(holding(two.storage, 0, later))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # the second relay's retries wait for the first's
        release.set()
        await asyncio.wait_for(waiting, 5)
        later.set()
        await released()


@pytest.mark.postgres
async def test_two_relays_keep_each_patients_order(pg_url: str) -> None:
    """500 events of 20 patients written by two processes, relayed by both at once: each event
    is handled once, each patient's in the order written, and both relays took part."""
    seen: list[tuple[str, str | None, int]] = []

    def recording(relay: str) -> EventHandler:
        async def handle(event: Event, tx: Transaction) -> None:
            await asyncio.sleep(0.0005)  # the other relay runs meanwhile
            seen.append((relay, event.patient, getattr(event, "n", -1)))

        return EventHandler(consumer="t.partitions", event_types=(PING, PONG), handle=handle)

    people = patients(20, distinct=False)
    settings = settings_for(pg_url)
    async with opened(settings) as one, opened(settings) as two:
        relays = [Relay(rt.storage, [recording(name)], batch=20, poll_seconds=0.05)
                  for name, rt in (("one", one), ("two", two))]
        for relay in relays:
            await relay.start()
        try:
            async def writer(rt: Runtime, mine: list[str]) -> None:
                for n in range(25):  # per patient, in this order
                    for patient in mine:
                        await publish(rt.storage, (Pinged if n % 2 else Ponged)(n=n, patient=patient))
            await asyncio.gather(writer(one, people[::2]), writer(two, people[1::2]))
            await wait_for_empty_outbox(one.storage, within=30)
        finally:
            for relay in relays:
                await relay.stop()
    assert len(seen) == 500 and len({(p, n) for _, p, n in seen}) == 500  # each exactly once
    for patient in people:
        assert [n for _, p, n in seen if p == patient] == list(range(25))
    assert {relay for relay, _, _ in seen} == {"one", "two"}


async def test_the_migration_gives_pending_rows_their_partition(db_url: str) -> None:
    rt = Runtime.plan(settings_for(db_url))
    await rt.open()
    try:
        engine = rt.storage.engine  # type: ignore[attr-defined]
        locations = rt.migration_locations()
        await migrate.upgrade(engine, locations, "h0006")
        people = patients(3, distinct=False)
        rows = [(Pinged(n=i, patient=people[i % 3] if i % 4 else None), i % 5 == 0) for i in range(12)]
        async with rt.storage.transaction() as tx:  # as the version before h0007 wrote them
            for event, delivered in rows:
                await tx.execute(insert(outbox).values(
                    event_id=event.id, event_type=PING, patient=event.patient, payload=encode_event(event),
                    created_at=utcnow(), delivered_at=utcnow() if delivered else None))
        await rt.migrate()
        got = {event_id: part for _, event_id, part in await partitions(rt.storage)}
        assert any(got.values())  # not all in partition 0 by chance
        for event, delivered in rows:
            assert got[event.id] == (0 if delivered else partition_of(event.patient, event.id))
        async with rt.storage.outbox.claim(100) as claimed:  # the claim reads the new column
            assert [e.event.n for e in claimed.events] == [  # type: ignore[attr-defined]
                event.n for event, delivered in rows if not delivered]
    finally:
        await rt.stop()


async def test_a_patients_events_are_read_by_position_and_type(db_url: str) -> None:
    me, other = patients(2)
    async with migrated(db_url) as storage:
        await publish(storage, Pinged(n=1, patient=me), Ponged(n=2, patient=me),
                      Pinged(n=3, patient=other), Pinged(n=4, patient=me), Pinged(n=5, patient=me))
        outbox_ = storage.outbox
        every = await outbox_.patient_events(me, -1, None, [PING, PONG], 10)
        assert [t for _, t, _ in every] == [PING, PONG, PING, PING]
        seqs = [seq for seq, _, _ in every]
        assert seqs == sorted(seqs) and all(isinstance(p, bytes) for _, _, p in every)
        pings = await outbox_.patient_events(me, seqs[0], seqs[3] - 1, [PING], 10)
        assert [seq for seq, _, _ in pings] == [seqs[2]]  # after, upto and the type
        assert [s for s, _, _ in await outbox_.patient_events(me, -1, None, [PING], 2)] == [seqs[0], seqs[2]]
        assert await outbox_.patient_events(me, -1, None, [], 10) == []
