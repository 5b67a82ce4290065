"""The transactional outbox and its relay: an event is exactly as durable as the data it
describes, reaches every handler right after commit, survives a crash, is retried then parked
when a handler fails, is applied once however often it is delivered, and keeps per-patient order."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, select, text, update

from adapters.storage.tables import delivery_failures, inbox, outbox
from core.clock import utcnow
from core.events import Event
from host.pluginapi import EventHandler
from host.relay import Relay
from host.runtime import Runtime
from host.settings import Settings
from host.tables import facilities
from ports.storage import Storage, Transaction
from tests.host.plugins import probe
from tests.support import opened

PATIENT_A = "31234567890123"
PATIENT_B = "41234567890123"


class Pinged(Event, frozen=True, kw_only=True, tag="test_outbox_relay.pinged"):
    n: int = 0


class Ponged(Event, frozen=True, kw_only=True, tag="test_outbox_relay.ponged"):
    n: int = 0


PING, PONG = Pinged.event_type(), Ponged.event_type()


def settings_for(db_url: str, **changes: Any) -> Settings:
    return Settings(database_url=db_url, modules=(), run_relay=False).with_(**changes)


@asynccontextmanager
async def migrated(db_url: str) -> AsyncIterator[Storage]:
    async with opened(settings_for(db_url)) as rt:
        yield rt.storage


def recorder(consumer: str, seen: list[Any], *types: str) -> EventHandler:
    async def handle(event: Event, tx: Transaction) -> None:
        seen.append((event.patient, getattr(event, "n", None)))

    return EventHandler(consumer=consumer, event_types=types or (PING,), handle=handle)


async def publish(storage: Storage, *events: Event) -> None:
    async with storage.transaction() as tx:
        for event in events:
            await tx.publish(event)


async def count(storage: Storage, stmt: Any) -> int:
    async with storage.transaction(readonly=True) as tx:
        return int((await tx.execute(stmt)).scalar_one())


OUTBOX_ROWS = select(func.count()).select_from(outbox)
FACILITY_ROWS = select(func.count()).select_from(facilities)


async def test_rolled_back_transaction_leaves_neither_row_nor_event(db_url: str) -> None:
    async with migrated(db_url) as storage:

        async def write(fail: bool) -> None:
            async with storage.transaction() as tx:
                await tx.execute(facilities.insert().values(
                    id="F1", name="Polyclinic 1", kind="polyclinic", region="Tashkent", created_at=utcnow()))
                await tx.publish(Pinged(n=1, facility="F1"))
                if fail:
                    raise RuntimeError("the request failed after writing")

        with pytest.raises(RuntimeError):
            await write(fail=True)
        assert await count(storage, FACILITY_ROWS) == 0
        assert await count(storage, OUTBOX_ROWS) == 0
        assert await storage.outbox.lag() == (0, 0.0)
        await write(fail=False)  # the control: the same unit of work, committed, keeps both
        assert await count(storage, FACILITY_ROWS) == 1
        assert (await storage.outbox.lag())[0] == 1


async def test_commit_wakes_the_relay_instead_of_waiting_for_the_poll(db_url: str) -> None:
    loop = asyncio.get_running_loop()
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def handle(event: Event, tx: Transaction) -> None:
        arrived.put_nowait(loop.time())

    plugins = {"probe": probe(handlers=[EventHandler(consumer="probe.ping", event_types=(PING,),
                                                     handle=handle)])}
    settings = settings_for(db_url, modules=("probe",), run_relay=True, relay_poll_seconds=30)
    async with opened(settings, plugins):
        pass
    rt = Runtime.plan(settings, plugins)
    await rt.start()
    try:
        await publish(rt.storage, Pinged(n=1))
        await asyncio.wait_for(arrived.get(), 5)  # the relay has run and now sleeps for 30 s
        await asyncio.sleep(0.1)
        committed = loop.time()
        await publish(rt.storage, Pinged(n=2))
        delivered = await asyncio.wait_for(arrived.get(), 1.0)
        assert delivered - committed < 1.0
    finally:
        await rt.stop()


async def test_wake_from_another_thread_reaches_the_relay(db_url: str) -> None:
    got = asyncio.Event()

    async def handle(event: Event, tx: Transaction) -> None:
        got.set()

    settings = settings_for(db_url)
    async with opened(settings) as rt, opened(settings) as other:
        relay = Relay(rt.storage, [EventHandler(consumer="t.thread", event_types=(PING,), handle=handle)],
                      poll_seconds=30)
        await relay.start()
        try:
            await asyncio.sleep(0.1)
            await publish(other.storage, Pinged(n=1))  # another engine: its commit wakes nobody here
            await asyncio.sleep(0.2)
            assert not got.is_set()
            waker = threading.Timer(0.1, relay.wake)  # fires while this loop idles in its selector
            waker.start()
            await asyncio.wait_for(got.wait(), 1)
            waker.join()
        finally:
            await relay.stop()


async def test_event_committed_before_a_crash_is_delivered_on_restart(db_url: str) -> None:
    settings = settings_for(db_url)
    async with opened(settings) as rt:  # committed, then the process dies before any relay ran
        await publish(rt.storage, Pinged(n=7, patient=PATIENT_A))
    seen: list[Any] = []
    async with opened(settings) as rt:
        assert (await rt.storage.outbox.lag())[0] == 1
        assert await Relay(rt.storage, [recorder("t.restart", seen)]).drain() == 1
        assert seen == [(PATIENT_A, 7)]
        assert await rt.storage.outbox.lag() == (0, 0.0)
        kept = select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_not(None))
        assert await count(rt.storage, kept) == 1  # delivered rows are kept, only marked


async def until_due(storage: Storage) -> None:
    [failure] = await storage.outbox.failures(parked_only=False)
    await asyncio.sleep(max((failure.next_attempt_at - utcnow()).total_seconds(), 0) + 0.02)


async def test_failing_handler_is_retried_then_parked_and_retry_requeues(db_url: str) -> None:
    broken = True
    attempts: list[int] = []
    steady: list[Any] = []

    async def flaky(event: Event, tx: Transaction) -> None:
        attempts.append(getattr(event, "n", 0))
        if broken:
            raise RuntimeError("the lab system is away")

    async with migrated(db_url) as storage:
        relay = Relay(storage, [EventHandler(consumer="t.flaky", event_types=(PING,), handle=flaky),
                                recorder("t.steady", steady)], max_attempts=3, backoff_seconds=0.3)
        await publish(storage, Pinged(n=1))
        await relay.drain()
        # tried in the batch's shared transaction, which rolled back, then in one of its own
        assert attempts == [1, 1] and steady == [(None, 1)]  # the others still get the event
        del attempts[0]
        [first] = await storage.outbox.failures(parked_only=False)
        assert (first.consumer, first.attempts, first.parked) == ("t.flaky", 1, False)
        assert "the lab system is away" in first.last_error and first.event_type == PING
        assert await storage.outbox.failures() == []  # not parked yet
        await relay.drain()
        assert attempts == [1]  # backoff: not retried before its time
        await until_due(storage)
        await relay.drain()
        [second] = await storage.outbox.failures(parked_only=False)
        assert attempts == [1, 1] and second.attempts == 2 and not second.parked
        gap1 = (second.next_attempt_at - first.next_attempt_at).total_seconds()
        assert gap1 >= 0.5  # the second wait (0.6 s) is twice the first (0.3 s)
        await until_due(storage)
        await relay.drain()
        [parked] = await storage.outbox.failures()
        assert attempts == [1, 1, 1] and parked.attempts == 3 and parked.parked
        await asyncio.sleep(0.05)
        await relay.drain()
        assert attempts == [1, 1, 1]  # parked deliveries wait for an operator
        broken = False
        assert await storage.outbox.retry() == 1
        await relay.drain()
        assert attempts == [1, 1, 1, 1] and steady == [(None, 1)]
        assert await storage.outbox.failures(parked_only=False) == []


async def test_retry_of_one_parked_delivery_leaves_the_others_parked(db_url: str) -> None:
    async def broken(event: Event, tx: Transaction) -> None:
        raise ValueError("no")

    async with migrated(db_url) as storage:
        relay = Relay(storage, [EventHandler(consumer="t.broken", event_types=(PING,), handle=broken)],
                      max_attempts=1)
        await publish(storage, Pinged(n=1))
        await publish(storage, Pinged(n=2))
        await relay.drain()
        first, second = await storage.outbox.failures()
        assert await storage.outbox.retry([second.seq]) == 1
        [still] = await storage.outbox.failures()
        assert still.seq == first.seq


async def test_a_batch_goes_to_each_consumer_in_one_transaction_unless_one_event_fails(db_url: str) -> None:
    """Under load a consumer takes a claimed batch in one transaction; one failing event rolls it
    back and the batch is delivered one by one: the others applied once, only that one retried."""
    transactions: list[Transaction] = []  # kept alive, so their ids cannot be reused
    applied: list[int] = []

    async def picky(event: Event, tx: Transaction) -> None:
        transactions.append(tx)
        if getattr(event, "n", 0) == 3:
            raise ValueError("three is refused")
        applied.append(getattr(event, "n", 0))

    steady: list[Any] = []
    async with migrated(db_url) as storage:
        relay = Relay(storage, [EventHandler(consumer="t.picky", event_types=(PING,), handle=picky),
                                recorder("t.steady", steady)], max_attempts=1)
        await publish(storage, *(Pinged(n=n) for n in (1, 2)))
        assert await relay.drain() == 2
        assert applied == [1, 2] and len({id(t) for t in transactions}) == 1  # one transaction for the batch
        assert steady == [(None, 1), (None, 2)]
        transactions.clear()
        await publish(storage, *(Pinged(n=n) for n in (3, 4, 5)))
        assert await relay.drain() == 3
        assert applied == [1, 2, 4, 5]  # rolled back with 3, then delivered one by one, once each
        assert steady == [(None, n) for n in (1, 2, 3, 4, 5)]
        [parked] = await storage.outbox.failures()
        assert (parked.consumer, parked.attempts) == ("t.picky", 1)


async def test_consumers_share_the_claims_transaction_and_a_failure_undoes_it_all(db_url: str) -> None:
    """Every consumer takes a batch in the claim's own transaction (one commit with the delivery
    mark); when one raises, nothing of that transaction stays: the writer's row is written once."""
    transactions: list[Transaction] = []
    failing = True

    async def writer(event: Event, tx: Transaction) -> None:
        transactions.append(tx)
        n = getattr(event, "n", 0)
        await tx.execute(facilities.insert().values(
            id=f"F{n}", name="Polyclinic", kind="polyclinic", region="Tashkent", created_at=utcnow()))

    async def checker(event: Event, tx: Transaction) -> None:
        transactions.append(tx)
        if failing:
            raise RuntimeError("the registry is away")

    async with migrated(db_url) as storage:
        relay = Relay(storage, [EventHandler(consumer="t.writer", event_types=(PING,), handle=writer),
                                EventHandler(consumer="t.checker", event_types=(PING,), handle=checker)],
                      max_attempts=1)
        await publish(storage, Pinged(n=1))
        assert await relay.drain() == 1
        assert len(transactions) == 4 and transactions[0] is transactions[1]  # shared, then alone
        assert transactions[2] is not transactions[3]
        assert await count(storage, FACILITY_ROWS) == 1  # the shared attempt's row rolled back
        assert await count(storage, select(func.count()).select_from(inbox)) == 1  # the writer's only
        [parked] = await storage.outbox.failures()
        assert (parked.consumer, parked.attempts) == ("t.checker", 1)
        failing = False
        transactions.clear()
        await publish(storage, Pinged(n=2))
        assert await relay.drain() == 1
        assert len(transactions) == 2 and transactions[0] is transactions[1]
        assert await count(storage, FACILITY_ROWS) == 2
        assert await storage.outbox.lag() == (0, 0.0)


async def test_a_batch_handler_gets_the_new_events_at_once_and_handle_takes_the_rest(db_url: str) -> None:
    """``handle_batch`` receives a consumer's new events of a batch in one call, in commit order,
    never one it already handled; if it fails, ``handle`` takes them one by one."""
    batches: list[list[int]] = []
    singles: list[int] = []

    async def one(event: Event, tx: Transaction) -> None:
        singles.append(getattr(event, "n", 0))

    async def many(events: Sequence[Event], tx: Transaction) -> None:
        batches.append([getattr(e, "n", 0) for e in events])
        if any(getattr(e, "n", 0) == 13 for e in events):
            raise ValueError("thirteen is refused by the batch path")

    async with migrated(db_url) as storage:
        relay = Relay(storage, [EventHandler(consumer="t.batched", event_types=(PING,), handle=one,
                                             handle_batch=many)])
        await publish(storage, *(Pinged(n=n) for n in (1, 2, 3)))
        assert await relay.drain() == 3
        assert (batches, singles) == ([[1, 2, 3]], [])
        handled = [Pinged(n=n) for n in (6, 7)]
        await publish(storage, *handled, Pinged(n=4), Pinged(n=5))
        async with storage.transaction() as tx:  # 6 and 7 handled consumer by consumer, the mark lost
            assert await tx.first_deliveries("t.batched", [e.id for e in handled])
        assert await relay.drain() == 4
        if db_url.startswith("sqlite"):  # a crash between the two commits can leave this: looked up
            assert batches == [[1, 2, 3], [4, 5]]  # 6 and 7 were handled already
        else:  # that path commits with the mark there, so the claim reads no inbox (next test)
            assert batches == [[1, 2, 3], [6, 7, 4, 5]]
        await publish(storage, Pinged(n=12), Pinged(n=13))
        assert await relay.drain() == 2
        assert singles == [12, 13]  # the batch rolled back, then one by one


async def test_a_claim_reads_the_inbox_only_where_per_consumer_deliveries_commit_apart(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-consumer path that follows a failing handler records its pairs in the inbox. On
    SQLite it commits apart from the mark, so a claim must look its events up; on PostgreSQL it
    runs in the claim's own transaction and commits with the mark or not at all: a pending event
    is in no inbox, and the claim spares the read. Either way each consumer's handling of each
    event commits once."""
    from adapters.storage.transaction import SqlTransaction

    reads: list[int] = []
    looked_up = SqlTransaction.handled_before

    async def counted(tx: SqlTransaction, wanted: Any) -> Any:
        reads.append(len(wanted))
        return await looked_up(tx, wanted)

    monkeypatch.setattr(SqlTransaction, "handled_before", counted)
    seen: list[Any] = []
    failing = True

    async def picky(event: Event, tx: Transaction) -> None:
        if failing and getattr(event, "n", 0) == 2:
            raise RuntimeError("not now")

    async with migrated(db_url) as storage:
        relay = Relay(storage, [recorder("t.seen", seen),
                                EventHandler(consumer="t.picky", event_types=(PING,), handle=picky)],
                      max_attempts=3, backoff_seconds=0)
        await publish(storage, Pinged(n=1), Pinged(n=2))
        assert await relay.drain() == 2  # together, refused, then consumer by consumer
        failing = False
        await publish(storage, Pinged(n=3))
        assert await relay.drain() == 1
        # 1 and 2 in the shared attempt (rolled back), then consumer by consumer; 3 shared
        assert [n for _, n in seen] == [1, 2, 1, 2, 3]
        # the per-consumer path's pairs (t.seen's 1 and 2, t.picky's 1) and t.picky's retried 2;
        # none of the shared claims'
        assert await count(storage, select(func.count()).select_from(inbox)) == 4
        assert (await storage.outbox.lag())[0] == 0
        assert bool(reads) == db_url.startswith("sqlite"), reads


async def test_events_a_consumer_does_not_accept_cost_it_nothing(db_url: str) -> None:
    seen: list[int] = []

    async def handle(event: Event, tx: Transaction) -> None:
        seen.append(getattr(event, "n", 0))

    async with migrated(db_url) as storage:
        relay = Relay(storage, [EventHandler(consumer="t.even", event_types=(PING,), handle=handle,
                                             accepts=lambda e: getattr(e, "n", 0) % 2 == 0)])
        await publish(storage, *(Pinged(n=n) for n in range(1, 6)))
        assert await relay.drain() == 5
        assert seen == [2, 4]
        # the claim's delivery records no inbox rows: its commit marks the events delivered
        assert await count(storage, select(func.count()).select_from(inbox)) == 0


async def test_a_relay_woken_as_it_is_stopped_still_stops(db_url: str) -> None:
    """A commit's wake-up and the shutdown arriving together must not leave the relay running
    (asyncio.wait_for on Python 3.11 lost such a cancellation and stop() waited for ever)."""
    async with migrated(db_url) as storage:
        for _ in range(3):
            relay = Relay(storage, [recorder("t.idle", [])], poll_seconds=30, backoff_seconds=30)
            await relay.start()
            await asyncio.sleep(0.2)  # idle, waiting for a wake-up
            relay.wake()
            asked = asyncio.get_running_loop().time()
            await asyncio.wait_for(relay.stop(), 5)
            assert asyncio.get_running_loop().time() - asked < 2.0


async def test_an_isolated_commit_is_delivered_without_the_gather_window(db_url: str) -> None:
    """An idle relay serves a wake-up at once: the gather window is for backlogs only."""
    loop = asyncio.get_running_loop()
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def handle(event: Event, tx: Transaction) -> None:
        arrived.put_nowait(loop.time())

    async with migrated(db_url) as storage:
        relay = Relay(storage, [EventHandler(consumer="t.alone", event_types=(PING,), handle=handle)],
                      poll_seconds=30, gather_seconds=0.5)
        await relay.start()
        try:
            await asyncio.sleep(0.2)  # its first pass is done: it now waits for a wake-up
            for n in (1, 2):
                committed = loop.time()
                await publish(storage, Pinged(n=n))
                assert await asyncio.wait_for(arrived.get(), 5) - committed < 0.25
                await asyncio.sleep(0.1)  # idle again
        finally:
            await relay.stop()


async def test_commits_arriving_together_share_passes(db_url: str) -> None:
    """Under a burst the relay gathers: far fewer passes than events, each event once."""
    batches: list[list[int]] = []

    async def many(events: Sequence[Event], tx: Transaction) -> None:
        batches.append([getattr(e, "n", 0) for e in events])

    async def one(event: Event, tx: Transaction) -> None:
        await many([event], tx)

    async with migrated(db_url) as storage:
        relay = Relay(storage, [EventHandler(consumer="t.gathered", event_types=(PING,), handle=one,
                                             handle_batch=many)], poll_seconds=30, gather_seconds=0.1)
        await relay.start()
        try:
            await asyncio.sleep(0.2)
            before = relay.passes
            for n in range(1, 31):  # thirty commits, each waking the relay
                await publish(storage, Pinged(n=n))
            await wait_for_empty_outbox(storage)
        finally:
            await relay.stop()
        assert sorted(n for b in batches for n in b) == list(range(1, 31))
        assert len(batches) <= 10 and relay.passes - before <= 10, batches


async def test_redelivered_event_is_applied_once(db_url: str) -> None:
    """A batch refused in the claim goes consumer by consumer; on SQLite those transactions commit
    apart from the mark, so a crash between them offers the batch again: the claim's delivery
    reads what that path recorded and applies only what it did not."""
    applied: list[Any] = []
    async with migrated(db_url) as storage:
        relay = Relay(storage, [recorder("t.once", applied), recorder("t.other", applied, PING)])
        first = Pinged(n=1)
        await publish(storage, first)
        async with storage.transaction() as tx:  # t.once handled it on its own; then the crash
            assert await tx.first_delivery("t.once", first.id)
        assert await relay.drain() == 1  # delivered again ...
        if db_url.startswith("sqlite"):
            assert applied == [(None, 1)]  # ... applied by t.other only
        else:  # that path commits with the mark there, so no claim looks (the test above)
            assert applied == [(None, 1), (None, 1)]
        assert await relay.drain() == 0
        assert await storage.outbox.lag() == (0, 0.0)


async def test_first_delivery_is_per_consumer_and_rolls_back_with_its_transaction(db_url: str) -> None:
    event = Pinged()
    async with migrated(db_url) as storage:
        with pytest.raises(RuntimeError):
            async with storage.transaction() as tx:
                assert await tx.first_delivery("t.a", event.id)
                raise RuntimeError("handler failed")
        async with storage.transaction() as tx:
            assert await tx.first_delivery("t.a", event.id)
            assert not await tx.first_delivery("t.a", event.id)
            assert await tx.first_delivery("t.b", event.id)


async def test_first_deliveries_records_many_at_once_and_names_only_the_new(db_url: str) -> None:
    done, new1, new2 = Pinged(), Pinged(), Pinged()
    async with migrated(db_url) as storage:
        async with storage.transaction() as tx:
            assert await tx.first_delivery("t.a", done.id)
        async with storage.transaction() as tx:
            assert await tx.first_deliveries("t.a", [done.id, new1.id, new2.id]) == {new1.id, new2.id}
            assert await tx.first_deliveries("t.b", [done.id]) == {done.id}  # per consumer
            assert await tx.first_deliveries("t.a", []) == set()
        async with storage.transaction() as tx:
            assert await tx.first_deliveries("t.a", [done.id, new1.id, new2.id]) == set()
        other = Pinged()
        async with storage.transaction() as tx:  # read only: names the recorded, records nothing
            asked = [("t.a", done.id), ("t.a", other.id), ("t.b", done.id), ("t.b", new1.id)]
            assert await tx.handled_before(asked) == {("t.a", done.id), ("t.b", done.id)}
            assert await tx.handled_before([]) == set()
            assert await tx.first_deliveries("t.a", [other.id]) == {other.id}


async def test_handlers_see_a_patients_events_in_commit_order(db_url: str) -> None:
    seen: list[Any] = []
    async with migrated(db_url) as storage:
        relay = Relay(storage, [recorder("t.order", seen, PING, PONG)], batch=3, poll_seconds=30)
        await relay.start()
        try:
            n = 0
            for round_ in range(6):
                events: list[Event] = []
                for patient in (PATIENT_A, PATIENT_B)[round_ % 2:] + (PATIENT_A, PATIENT_B)[:round_ % 2]:
                    n += 1
                    events.append((Pinged if n % 2 else Ponged)(n=n, patient=patient))
                await publish(storage, *events)
            await wait_for_empty_outbox(storage)
        finally:
            await relay.stop()
    for patient in (PATIENT_A, PATIENT_B):
        got = [n for p, n in seen if p == patient]
        assert len(got) == 6 and got == sorted(got)
    assert len(seen) == 12


async def wait_for_empty_outbox(storage: Storage, within: float = 10) -> None:
    async with asyncio.timeout(within):
        while (await storage.outbox.lag())[0]:
            await asyncio.sleep(0.02)


async def test_undecodable_event_is_set_aside_without_blocking_the_rest(db_url: str) -> None:
    seen: list[Any] = []
    async with migrated(db_url) as storage:
        relay = Relay(storage, [recorder("t.after", seen)])
        await publish(storage, Pinged(n=1))
        async with storage.transaction() as tx:  # a type this process does not know (rolling upgrade)
            await tx.execute(update(outbox).values(event_type="test_outbox_relay.from_the_future"))
        await publish(storage, Pinged(n=2))
        await relay.drain()
        assert seen == [(None, 2)]
        [dead] = await storage.outbox.failures()
        assert dead.event_type == "test_outbox_relay.from_the_future" and "cannot decode" in dead.last_error
        async with storage.transaction() as tx:  # the new version is deployed here too
            await tx.execute(update(outbox).where(outbox.c.seq == dead.seq).values(event_type=PING))
        assert await storage.outbox.retry() == 1
        await relay.drain()
        assert seen == [(None, 2), (None, 1)]
        assert await storage.outbox.failures(parked_only=False) == []
        assert await count(storage, select(func.count()).select_from(delivery_failures)) == 0


async def test_failure_of_a_consumer_no_longer_registered_is_parked(db_url: str) -> None:
    async def broken(event: Event, tx: Transaction) -> None:
        raise ValueError("no")

    async with migrated(db_url) as storage:
        old = Relay(storage, [EventHandler(consumer="t.gone", event_types=(PING,), handle=broken)],
                    backoff_seconds=0)
        await publish(storage, Pinged(n=1))
        await old.drain()
        [failure] = await storage.outbox.failures(parked_only=False)
        assert not failure.parked
        await Relay(storage, []).drain()  # the module that owned t.gone is not enabled any more
        [failure] = await storage.outbox.failures()
        assert failure.parked and "no handler" in failure.last_error


async def test_a_due_retry_counts_even_when_the_next_batch_is_refused(db_url: str) -> None:
    """A retry that falls due while a new event fails in the shared transaction: the retry's
    attempt (here the last one, so it is parked) stays recorded although that batch rolls back."""
    tried: list[int] = []

    async def refusing(event: Event, tx: Transaction) -> None:
        tried.append(getattr(event, "n", 0))
        raise ValueError("refused")

    async with migrated(db_url) as storage:
        relay = Relay(storage, [EventHandler(consumer="t.refusing", event_types=(PING,), handle=refusing)],
                      max_attempts=2, backoff_seconds=0.0)
        await publish(storage, Pinged(n=1))
        await relay.drain()
        [first] = await storage.outbox.failures(parked_only=False)
        assert (first.attempts, first.parked) == (1, False)
        await publish(storage, Pinged(n=2))  # fails in the batch's shared transaction
        await asyncio.sleep(0.01)  # the first failure is due
        await relay.drain()
        assert tried == [1, 1, 1, 2, 2]  # shared, alone, retried; then 2 shared and alone
        failures = {f.seq: f for f in await storage.outbox.failures(parked_only=False)}
        assert [(f.attempts, f.parked) for _, f in sorted(failures.items())] == [(2, True), (1, False)]
        await relay.drain()  # only 2 is retried: the parked one waits for an operator
        assert tried[5:] == [2]
        assert [f.attempts for f in await storage.outbox.failures()] == [2, 2]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_relays_deliver_each_event_once_and_in_order(db_url: str) -> None:
    seen: list[tuple[str, str | None, int]] = []

    def handler(relay: str) -> EventHandler:
        async def handle(event: Event, tx: Transaction) -> None:
            await asyncio.sleep(0.005)  # a drain lasts long enough for the other relay to claim too,
            seen.append((relay, event.patient, getattr(event, "n", 0)))  # even on a loaded machine

        return EventHandler(consumer="t.shared", event_types=(PING,), handle=handle)

    patients = [f"5{i:013d}" for i in range(4)]
    settings = settings_for(db_url)
    async with opened(settings) as one, opened(settings) as two:  # two processes' engines
        first = Relay(one.storage, [handler("one")], batch=5, poll_seconds=0.02)
        second = Relay(two.storage, [handler("two")], batch=5, poll_seconds=0.02)
        for n in range(40):
            await publish(one.storage, Pinged(n=n, patient=patients[n % 4]))
        await asyncio.gather(first.drain(), second.drain())  # both claim at once
        assert {relay for relay, _, _ in seen} == {"one", "two"}
        await first.start()
        await second.start()
        try:
            for n in range(40, 100):
                await publish((one if n % 2 else two).storage, Pinged(n=n, patient=patients[n % 4]))
                await asyncio.sleep(0)
            await wait_for_empty_outbox(one.storage)
        finally:
            await first.stop()
            await second.stop()
    assert sorted(n for _, _, n in seen) == list(range(100))  # each exactly once
    for patient in patients:
        got = [n for _, p, n in seen if p == patient]
        assert got == sorted(got)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_relay_waiting_for_anothers_claim_stops_promptly(db_url: str) -> None:
    release = asyncio.Event()

    async def slow(event: Event, tx: Transaction) -> None:
        await release.wait()

    settings = settings_for(db_url)
    async with opened(settings) as one, opened(settings) as two:
        busy = Relay(one.storage, [EventHandler(consumer="t.slow", event_types=(PING,), handle=slow)])
        waiting = Relay(two.storage, [recorder("t.slow", [])], poll_seconds=0.01)
        await publish(one.storage, Pinged(n=1))
        await busy.start()
        await asyncio.sleep(0.3)  # busy holds the claim inside its handler
        await waiting.start()
        await asyncio.sleep(0.3)  # waiting finds the event's partition held: it skips it and polls
        await asyncio.wait_for(waiting.stop(), 2)
        release.set()
        await wait_for_empty_outbox(one.storage)
        await busy.stop()
        await publish(two.storage, Pinged(n=2))  # the cancelled relay's engine still works
        assert await waiting.drain() == 1


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_failed_read_inside_the_claim_leaves_the_claim_whole(db_url: str) -> None:
    """On PostgreSQL a handler's own units inside the relay's claim are savepoints of it, a
    read-only one too: a read that fails does not abort the claim, so the handler goes on and its
    delivery commits. A lock asked for inside the claim is refused, and a unit asking to be
    durable makes the claim's commit wait for the disk: neither is silently dropped."""
    commits: list[str] = []
    async with migrated(db_url) as storage:

        async def careful(event: Event, tx: Transaction) -> None:
            with pytest.raises(Exception, match="no_such_table"):
                async with storage.transaction(readonly=True) as side:
                    await side.execute(text("SELECT * FROM no_such_table"))
            commits.append((await tx.execute(text("SHOW synchronous_commit"))).scalar_one())
            async with storage.transaction(durable=True):  # type: ignore[call-arg]
                commits.append((await tx.execute(text("SHOW synchronous_commit"))).scalar_one())
            await tx.execute(facilities.insert().values(
                id="F1", name="Polyclinic", kind="polyclinic", region="Tashkent", created_at=utcnow()))

        async def locking(event: Event, tx: Transaction) -> None:
            async with storage.transaction(lock=42):  # type: ignore[call-arg]
                pass

        relay = Relay(storage, [EventHandler(consumer="t.careful", event_types=(PING,), handle=careful),
                                EventHandler(consumer="t.locking", event_types=(PONG,), handle=locking)],
                      max_attempts=1)
        await publish(storage, Pinged(n=1), Ponged(n=1))
        assert await relay.drain() == 2
        assert await count(storage, FACILITY_ROWS) == 1 and commits[-2:] == ["off", "on"]
        [refused] = await storage.outbox.failures()
        assert refused.consumer == "t.locking" and "cannot take a lock" in refused.last_error


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_relays_sharing_partitions_leave_no_event_below_their_floor(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relay whose drain skipped partitions another relay held must not raise its floor past
    their rows: else they wait for the next full scan, and their patients' later events overtake
    them. With the full scan pushed out of reach, everything still arrives, in order, promptly."""
    monkeypatch.setattr("host.relay.FULL_SCAN_SECONDS", 3600.0)
    seen: list[tuple[str | None, int]] = []

    async def handle(event: Event, tx: Transaction) -> None:
        await asyncio.sleep(0.002)  # hold the partitions a moment: the other relay finds them busy
        seen.append((event.patient, getattr(event, "n", 0)))

    patients = [f"6{i:013d}" for i in range(12)]
    settings = settings_for(db_url)
    async with opened(settings) as rt:
        relays = [Relay(rt.storage, [EventHandler(consumer="t.floor", event_types=(PING,), handle=handle)],
                        batch=20, poll_seconds=0.05) for _ in range(2)]
        for relay in relays:
            await relay.start()
        try:
            for n in range(0, 300, 3):
                await publish(rt.storage, *(Pinged(n=k, patient=patients[k % 12]) for k in range(n, n + 3)))
            await wait_for_empty_outbox(rt.storage, within=8)
        finally:
            for relay in relays:
                await relay.stop()
    assert sorted(n for _, n in seen) == list(range(300))
    for patient in patients:
        got = [n for p, n in seen if p == patient]
        assert got == sorted(got), (patient, got)
