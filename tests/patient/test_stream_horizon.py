"""Below the stream, through the storage port: the outbox horizon never passes a row that can still
commit (on PostgreSQL a lower ``seq`` can commit after a higher one, or never: rollback), and the
feed shows the patient only their own record's events, without staff ids."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import msgspec
import pytest

from core.clock import utcnow
from core.events import CriticalLabValue, EntryRecorded, PrescriptionCancelled, PrescriptionDispensed
from core.ids import new_id
from host import outbox_horizon, patient_feed
from host.outbox_horizon import Horizon
from host.runtime import Runtime
from tests.medcard.card import VALID, settings_for
from tests.support import opened

ME = VALID["pinfl"]


class Rollback(Exception):
    pass


async def begin(rt: Runtime, pinfl: str = ME) -> AsyncExitStack:
    """A write transaction that published an entry of ``pinfl`` and is still open."""
    stack = AsyncExitStack()
    tx = await stack.enter_async_context(rt.storage.transaction())
    await tx.publish(EntryRecorded(patient=pinfl, facility="F1", entry_id=new_id(), kind="indicator",
                                   performed_at=utcnow()))
    return stack


async def rollback(stack: AsyncExitStack) -> None:
    assert not await stack.__aexit__(Rollback, Rollback(), None)


async def mine(rt: Runtime, after: int, upto: int) -> list[int]:
    items, read_to = await patient_feed.read(rt.storage, ME, after, upto, 100, feed=rt.feed)
    assert read_to == upto
    return [item.seq for item in items]


async def until_past(horizon: Horizon, seq: int, timeout: float = 10.0) -> int:
    async def wait() -> int:
        while (upto := await horizon.read()) < seq:
            await asyncio.sleep(0.05)
        return upto

    return await asyncio.wait_for(wait(), timeout)


async def test_the_horizon_waits_for_lower_seqs_still_in_flight(db_url: str) -> None:
    async with opened(settings_for(db_url)) as rt:
        horizon = Horizon(rt.storage)
        rt.storage.on_commit(horizon.wake)
        start = await horizon.read()
        await (await begin(rt)).aclose()
        first = await horizon.read()
        assert await mine(rt, start, first) == [first]  # committed and visible at once
        assert horizon.may_concern(ME, start) and not horizon.may_concern("30211970007779", start)

        if rt.storage.dialect == "sqlite":  # one writer: seqs commit in order, a rollback leaves no hole
            await rollback(await begin(rt))
            await (await begin(rt)).aclose()
            assert await mine(rt, first, await horizon.read()) == [first + 1]
            return

        slow = await begin(rt)  # takes the next seq and keeps it uncommitted
        await (await begin(rt)).aclose()  # a higher seq commits first
        higher = (await patient_feed.read(rt.storage, ME, first, 2**62, 10, feed=rt.feed))[0][0].seq
        for _ in range(3):  # past the hole's first re-check: its writer is still running
            assert await horizon.read() == first
            await asyncio.sleep(outbox_horizon.HOLE_SECONDS)
        await slow.aclose()
        upto = await until_past(horizon, higher)
        assert await mine(rt, first, upto) == [higher - 1, higher]  # both, in seq order

        one, two = await begin(rt), await begin(rt)  # two writers in flight; the second commits first
        await (await begin(rt)).aclose()
        await two.aclose()
        await asyncio.sleep(outbox_horizon.HOLE_SECONDS)
        assert await horizon.read() == higher  # still below the first writer's seq
        await one.aclose()
        upto = await until_past(horizon, higher + 3)
        assert await mine(rt, higher, upto) == [higher + 1, higher + 2, higher + 3]
        higher += 3

        await rollback(await begin(rt))  # a rolled-back seq never commits: passed once seen as such
        await (await begin(rt)).aclose()
        upto = await until_past(horizon, higher + 2)
        assert await mine(rt, higher, upto) == [higher + 2]
        assert horizon.poll_seconds == outbox_horizon.POLL_SECONDS  # no hole left to watch


async def test_the_feed_shows_status_changes_and_keeps_staff_ids_and_other_events_inside(db_url: str) -> None:
    rx, staff = new_id(), new_id()
    # the feed shows the events of the enabled modules (hook shifo_patient_feed): erecipe's here
    async with opened(settings_for(db_url).with_(modules=("medcard", "erecipe"))) as rt:
        async with rt.storage.transaction() as tx:
            await tx.publish(PrescriptionDispensed(
                patient=ME, facility="P1", prescription_id=rx, number="RX-1", dispense_id=new_id(),
                status="partially_dispensed", by=staff, items=[{"inn": "Amoxicillin", "remaining": 10}]))
            await tx.publish(CriticalLabValue(  # addressed to the clinician, not the patient
                patient=ME, entry_id=new_id(), requested_by=staff, test="K", value=7.0, flag="HH",
                performed_at=utcnow()))
            await tx.publish(PrescriptionCancelled(patient=ME, prescription_id=rx, number="RX-1",
                                                   reason="duplicate", by=staff))
            await tx.publish(PrescriptionCancelled(patient="30211970007779", prescription_id=new_id(),
                                                   number="RX-2", reason="other's", by=staff))
        items, _ = await patient_feed.read(rt.storage, ME, 0, 2**62, 10, feed=rt.feed)
    assert [i.event_type for i in items] == ["erecipe.dispensed", "erecipe.cancelled"]
    dispensed, cancelled = (msgspec.json.decode(i.data) for i in items)
    assert dispensed["kind"] == "prescription" and dispensed["status"] == "partially_dispensed"
    assert dispensed["prescription_id"] == str(rx) and dispensed["items"][0]["remaining"] == 10
    assert cancelled["status"] == "cancelled" and cancelled["reason"] == "duplicate"
    assert str(staff) not in items[0].data + items[1].data  # who dispensed or cancelled stays inside


async def test_the_relays_horizon_reads_runs_of_seqs_yet_stops_at_the_same_seqs(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The relay's horizon (no patients) reads runs of consecutive seqs, not every row: it must
    settle exactly where the stream's horizon does, across reads of ``SCAN`` rows and at holes,
    and take no seq inside a run for a hole."""
    monkeypatch.setattr(outbox_horizon, "SCAN", 3)  # several reads to the top
    async with opened(settings_for(db_url)) as rt:
        relay, stream = Horizon(rt.storage, patients=False), Horizon(rt.storage)
        for _ in range(8):
            await (await begin(rt)).aclose()
        top = await until_past(stream, 8)
        assert await relay.catch_up() == top == 8  # at once: consecutive seqs are no holes
        assert relay.poll_seconds == outbox_horizon.POLL_SECONDS
        if rt.storage.dialect == "sqlite":
            return
        slow = await begin(rt)  # a hole at top + 1 while later rows commit
        for _ in range(4):
            await (await begin(rt)).aclose()
        await rollback(await begin(rt))  # and a rolled-back seq above them
        await (await begin(rt)).aclose()
        await asyncio.sleep(outbox_horizon.HOLE_SECONDS)
        assert await relay.catch_up() == top  # the writer in flight holds both back
        assert relay.poll_seconds == outbox_horizon.HOLE_SECONDS
        await slow.aclose()
        end = top + 7  # the rolled-back seq is passed once a later snapshot shows its writer gone

        async def caught_up() -> int:
            while (settled := await relay.catch_up()) < end:
                await asyncio.sleep(0.05)
            return settled

        assert await asyncio.wait_for(caught_up(), 10) == end == await until_past(stream, end)
        assert relay.poll_seconds == outbox_horizon.POLL_SECONDS
