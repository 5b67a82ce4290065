"""The world of the messaging contract kit (:mod:`host.testing.messaging_kit`): a migrated
database, an event type of the kit's own, two recording consumers, and pipelines ("processes")
started, stopped and crashed on demand."""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.schema import CreateTable

from core.events import Event
from host import adapters
from host.migrations import VERSIONS as HOST_VERSIONS
from host.pipeline import Pipeline
from host.pluginapi import EventHandler
from host.settings import Settings
from ports.messaging import Messaging
from ports.storage import FailedDelivery, Storage, Transaction


class Noted(Event, frozen=True, kw_only=True, tag="messaging_kit.noted"):
    """The kit's event: ``n`` tells the cases' events apart."""

    n: int = 0


NOTED = Noted.event_type()
#: one row per applied effect: a consumer applied event ``n`` of ``patient`` (``id`` gives the order)
EFFECTS = Table("messaging_kit_effects", MetaData(),
                Column("id", Integer, primary_key=True, autoincrement=True),
                Column("consumer", String(40), nullable=False), Column("patient", String(14)),
                Column("n", Integer, nullable=False))


class KitWorld:
    def __init__(self, database_url: str, make: Callable[[], Awaitable[Messaging]], *,
                 within: float, consumer_groups: str = "shared") -> None:
        self.settings = Settings(
            database_url=database_url, modules=(), run_relay=False, relay_batch=20, consumer_batch=20,
            relay_poll_seconds=0.05, relay_backoff_seconds=0.05, relay_max_attempts=5,
            relay_gather_seconds=0.0, consumer_groups=consumer_groups)
        self.make, self.within = make, within
        self.failing: dict[int, int] = {}  # n -> calls of kit.effects still to fail (-1: all)
        self.calls: Counter[int] = Counter()  # kit.effects's calls per n
        self.block_at: int | None = None  # kit.effects waits at this n (a crash mid-batch)
        self.blocked = asyncio.Event()
        self._never = asyncio.Event()
        self.pipelines: list[Pipeline] = []
        self.storage: Storage

    @property
    def handlers(self) -> list[EventHandler]:
        return [EventHandler(consumer="kit.effects", event_types=(NOTED,), handle=self._effects),
                EventHandler(consumer="kit.evens", event_types=(NOTED,), handle=self._evens,
                             accepts=lambda e: getattr(e, "n", 1) % 2 == 0)]

    async def _effects(self, event: Event, tx: Transaction) -> None:
        n = getattr(event, "n", 0)
        self.calls[n] += 1
        if n == self.block_at:
            self.blocked.set()
            await self._never.wait()  # until cancelled: the crash
        left = self.failing.get(n, 0)
        if left:
            self.failing[n] = left - 1 if left > 0 else left
            raise RuntimeError(f"kit: event {n} refused")
        await self._record("kit.effects", event, tx)

    async def _evens(self, event: Event, tx: Transaction) -> None:
        await self._record("kit.evens", event, tx)

    @staticmethod
    async def _record(consumer: str, event: Event, tx: Transaction) -> None:
        await tx.execute(EFFECTS.insert().values(consumer=consumer, patient=event.patient,
                                                 n=getattr(event, "n", 0)))

    async def open(self) -> None:
        made = adapters.create("storage", self.settings.storage_adapter, self.settings)
        self.storage = await made if inspect.isawaitable(made) else made
        await self.storage.migrate({"host": HOST_VERSIONS})
        async with self.storage.transaction() as tx:
            await tx.execute(CreateTable(EFFECTS, if_not_exists=True))

    async def close(self) -> None:
        for pipeline in list(self.pipelines):
            await self.stop(pipeline)
        await self.storage.close()

    async def durable(self) -> bool:
        return bool(self.pipelines and self.pipelines[0].messaging.durable)

    async def start(self, *, relay: bool = True, consumers: bool = True) -> Pipeline:
        """A new "process": a fresh adapter instance, its relay and (durable) its consumers."""
        pipeline = Pipeline(self.storage, await self.make(), self.handlers, self.settings)
        self.pipelines.append(pipeline)
        await pipeline.start(relay=relay, consumers=consumers)
        return pipeline

    async def stop(self, pipeline: Pipeline) -> None:
        self.pipelines.remove(pipeline)
        await pipeline.stop()
        await pipeline.messaging.close()

    async def crash(self, pipeline: Pipeline) -> None:
        self.pipelines.remove(pipeline)
        await pipeline.abort()
        await pipeline.messaging.close()

    async def write(self, *events: Event) -> None:
        async with self.storage.transaction() as tx:
            for event in events:
                await tx.publish(event)

    async def effects(self) -> list[tuple[str, str | None, int]]:
        e = EFFECTS.c
        async with self.storage.transaction(readonly=True) as tx:
            rows = (await tx.execute(select(e.consumer, e.patient, e.n).order_by(e.id))).all()
        return [(c, p, n) for c, p, n in rows]

    async def counts(self) -> dict[str, int]:
        e = EFFECTS.c
        async with self.storage.transaction(readonly=True) as tx:
            rows = (await tx.execute(select(e.consumer, func.count()).group_by(e.consumer))).all()
        return {c: int(k) for c, k in rows}

    async def pending(self) -> int:
        return (await self.storage.outbox.lag())[0]

    async def failures(self, parked_only: bool) -> list[FailedDelivery]:
        return await self.storage.outbox.failures(parked_only=parked_only)

    async def settled(self, want: dict[str, int]) -> None:
        """Wait until the consumers applied ``want`` effects; fail if they apply more."""
        got = await self.until(self.counts, want=want, at_least=True)
        assert got == want, f"effects {got}, expected {want}"
        await asyncio.sleep(0.1)  # a duplicate arriving late would show now
        assert await self.counts() == want

    async def until(self, probe: Callable[[], Awaitable[Any]], *, want: Any = None,
                    at_least: bool = False) -> Any:
        """Poll ``probe`` until it gives ``want`` (or anything truthy when ``want`` is None)."""
        got: Any = None
        try:
            async with asyncio.timeout(self.within):
                while True:
                    got = await probe()
                    if (want is None and got) or got == want or (at_least and _covers(got, want)):
                        return got
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"waited {self.within} s: last {got!r}, wanted {want!r}") from None


def _covers(got: Any, want: Any) -> bool:
    return isinstance(got, dict) and all(got.get(k, 0) >= v for k, v in want.items())
