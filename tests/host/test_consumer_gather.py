"""The consumers' group commit (:mod:`host.consumer_gather`): batches handed over while a
transaction runs go together into the next one, each effect once, a failure stays with its
consumer and event, and a database that is away or an abort sends every waiting batch back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, select

from adapters.storage.tables import inbox, outbox
from core.clock import utcnow
from core.errors import Unavailable
from core.events import Event
from host.consumer_gather import Gather
from host.delivery import Batch, Deliveries
from host.pluginapi import EventHandler
from host.relay import consumers_of
from host.tables import facilities
from ports.storage import Storage, Transaction
from tests.host.test_outbox_relay import count, migrated, publish

INBOX_ROWS = select(func.count()).select_from(inbox)


class Handed(Event, frozen=True, kw_only=True, tag="test_consumer_gather.handed"):
    n: int = 0


class Probe:
    """What the handlers were called with; a held handler waits at its first event until released.
    Each call writes a row ``consumer:n`` (the effect), before a refusal too (rolled back then)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.txs: list[Transaction] = []  # kept alive, so their ids are not reused
        self.entered, self.released = asyncio.Event(), asyncio.Event()

    def handler(self, consumer: str, *, hold: bool = False, refuse: int | None = None) -> EventHandler:
        async def handle(event: Event, tx: Transaction) -> None:
            n = getattr(event, "n", 0)
            self.seen.append((consumer, n))
            self.txs.append(tx)
            await tx.execute(facilities.insert().values(
                id=f"{consumer}:{n}", name="P", kind="polyclinic", region="Tashkent", created_at=utcnow()))
            if n == refuse:
                raise ValueError(f"{consumer} refuses {n}")
            if hold and not self.released.is_set():
                self.entered.set()
                await self.released.wait()

        return EventHandler(consumer=consumer, event_types=(Handed.event_type(),), handle=handle)

    def of(self, consumer: str) -> list[int]:
        return [n for c, n in self.seen if c == consumer]


def gather_of(storage: Storage, *handlers: EventHandler) -> Gather:
    return Gather(Deliveries(storage, consumers_of(list(handlers)), max_attempts=3, backoff_seconds=60))


async def stored(storage: Storage, n: int) -> dict[int, tuple[int, Event]]:
    """Events 1..n committed to the outbox, by n, with their seqs (failures refer to them)."""
    events = [Handed(n=k) for k in range(1, n + 1)]
    await publish(storage, *events)
    async with storage.transaction(readonly=True) as tx:
        seqs = dict((await tx.execute(select(outbox.c.event_id, outbox.c.seq))).all())
    return {getattr(e, "n"): (seqs[e.id], e) for e in events}


async def effects(storage: Storage) -> list[str]:
    async with storage.transaction(readonly=True) as tx:
        return sorted((await tx.execute(select(facilities.c.id))).scalars())


async def test_batches_handed_over_meanwhile_go_together_in_order(db_url: str) -> None:
    probe = Probe()
    async with migrated(db_url) as storage:
        gather = gather_of(storage, probe.handler("a", hold=True), probe.handler("b"), probe.handler("c"))
        ev = await stored(storage, 5)
        first = asyncio.create_task(gather.apply(gather.deliveries.consumers["a"], [ev[1]]))
        await asyncio.wait_for(probe.entered.wait(), 5)
        handed: list[tuple[str, Batch]] = [
            ("b", [ev[1], ev[2]]), ("a", [ev[2], ev[3]]), ("c", [ev[3]]), ("a", [ev[4], ev[5]])]
        rest = [asyncio.create_task(gather.apply(gather.deliveries.consumers[c], b)) for c, b in handed]
        await asyncio.sleep(0.05)
        assert not any(t.done() for t in [first, *rest])  # all wait for the running transaction
        probe.released.set()
        await asyncio.wait_for(asyncio.gather(first, *rest), 10)
        assert gather.together == 1
        assert (probe.of("a"), probe.of("b"), probe.of("c")) == ([1, 2, 3, 4, 5], [1, 2], [3])
        assert len({id(tx) for tx in probe.txs[1:]}) == 1  # the four batches: one transaction
        assert await effects(storage) == ["a:1", "a:2", "a:3", "a:4", "a:5", "b:1", "b:2", "c:3"]
        assert await count(storage, INBOX_ROWS) == 8


async def test_an_event_offered_twice_or_handled_before_is_applied_once(db_url: str) -> None:
    probe = Probe()
    async with migrated(db_url) as storage:
        a, b = probe.handler("a"), probe.handler("b")
        gather = gather_of(storage, a, b)
        ev = await stored(storage, 3)
        await gather.apply(a, [ev[1]])
        await asyncio.gather(gather.apply(a, [ev[1], ev[2], ev[2]]),  # handled before; a redelivery
                             gather.apply(a, [ev[2], ev[3]]),  # ev[2] beside its original
                             gather.apply(b, [ev[1], ev[1]]))
        assert gather.together == 1
        assert (probe.of("a"), probe.of("b")) == ([1, 2, 3], [1])
        assert await effects(storage) == ["a:1", "a:2", "a:3", "b:1"]
        assert await count(storage, INBOX_ROWS) == 4


async def test_a_failure_in_a_gathering_stays_with_its_consumer_and_event(db_url: str) -> None:
    probe = Probe()
    async with migrated(db_url) as storage:
        b, a = probe.handler("b"), probe.handler("a", refuse=2)  # b goes first in the shared try
        gather = gather_of(storage, b, a)
        ev = await stored(storage, 3)
        batch = [ev[1], ev[2], ev[3]]
        assert list(await asyncio.gather(gather.apply(a, batch), gather.apply(b, batch))) == [None, None]
        assert gather.together == 0  # rolled back, then each batch on its own
        assert await effects(storage) == ["a:1", "a:3", "b:1", "b:2", "b:3"]
        assert await count(storage, INBOX_ROWS) == 5
        [failed] = await storage.outbox.failures(parked_only=False)
        assert (failed.seq, failed.consumer, failed.attempts, failed.parked) == (ev[2][0], "a", 1, False)
        assert "a refuses 2" in failed.last_error


async def test_the_database_away_sends_every_waiting_batch_back(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = Probe()
    async with migrated(db_url) as storage:
        a, b = probe.handler("a"), probe.handler("b")
        gather = gather_of(storage, a, b)
        ev = await stored(storage, 2)
        real = storage.transaction

        @asynccontextmanager
        async def commit_lost(**kw: Any) -> AsyncIterator[Transaction]:
            async with real(**kw) as tx:
                yield tx
                raise Unavailable("the database went away")  # the handlers ran: rolled back

        monkeypatch.setattr(storage, "transaction", commit_lost)
        handed = [(a, [ev[1], ev[2]]), (b, [ev[1]]), (a, [ev[2]])]
        outcomes = await asyncio.gather(*(gather.apply(h, bt) for h, bt in handed), return_exceptions=True)
        assert [type(o) for o in outcomes] == [Unavailable] * 3
        assert ("a", 1) in probe.seen and gather.together == 0
        monkeypatch.undo()
        assert await effects(storage) == [] and await count(storage, INBOX_ROWS) == 0
        assert await storage.outbox.failures(parked_only=False) == []  # not the handlers' failure
        await asyncio.gather(*(gather.apply(h, bt) for h, bt in handed))  # offered again: applied
        assert await effects(storage) == ["a:1", "a:2", "b:1"]


async def test_abort_rolls_the_gathering_back_and_every_waiting_batch_fails(db_url: str) -> None:
    probe = Probe()
    async with migrated(db_url) as storage:
        b, a = probe.handler("b"), probe.handler("a", hold=True)
        gather = gather_of(storage, b, a)
        ev = await stored(storage, 2)
        handed = [(b, [ev[1]]), (a, [ev[1], ev[2]]), (b, [ev[2]])]
        running = [asyncio.create_task(gather.apply(h, bt)) for h, bt in handed[:2]]
        await asyncio.wait_for(probe.entered.wait(), 5)  # b:1 and a:1 written, a holds the transaction
        assert probe.seen == [("b", 1), ("a", 1)]
        later = asyncio.create_task(gather.apply(*handed[2]))
        await asyncio.sleep(0.05)
        gather.abort()
        for task in [*running, later]:
            with pytest.raises(Unavailable):
                await asyncio.wait_for(task, 5)
        assert await effects(storage) == [] and await count(storage, INBOX_ROWS) == 0
        probe.released.set()
        before = len(probe.seen)
        await asyncio.wait_for(asyncio.gather(*(gather.apply(h, bt) for h, bt in handed)), 10)
        assert sorted(probe.seen[before:]) == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]  # once each
        assert await effects(storage) == ["a:1", "a:2", "b:1", "b:2"]
        assert await count(storage, INBOX_ROWS) == 4 and gather.together == 1


async def test_abort_just_after_a_hand_over_sends_the_batch_back(db_url: str) -> None:
    """A batch handed over in the loop turn abort() runs in: its runner was created but never ran,
    so abort() itself must send the batch back, or its puller (and Consumers.abort closing it)
    would wait forever."""
    probe = Probe()
    async with migrated(db_url) as storage:
        a = probe.handler("a")
        gather = gather_of(storage, a)
        ev = await stored(storage, 1)
        task = asyncio.create_task(gather.apply(a, [ev[1]]))
        await asyncio.sleep(0)  # handed over: the runner is created, not yet started
        gather.abort()
        with pytest.raises(Unavailable):
            await asyncio.wait_for(task, 2)
