"""Module consumers on a durable messaging adapter: each module's handlers take their events from
the broker, in any number of processes.

**Groups** (``SHIFO_CONSUMER_GROUPS``). ``shared`` (the default): one consumption
(``messaging.consume``) named :data:`SHARED_GROUP` for the event types of every handler, so the
broker delivers, and the process acknowledges, each event once, whatever number of modules take
it; its batch goes to each handler that takes one of its types, in one transaction. ``consumer``:
one consumption per handler under its ``consumer`` name, each with its own lag and pace (a slow
module then delays only itself) at the cost of a delivery and an acknowledgement per handler
(a card entry goes to four); measured in ``bench/scaleout.py``.

Either way the broker hands over a batch of one partition (commit order, one batch of a partition
at a time across every process), :mod:`host.consumer_gather` applies it with the inbox check, in
one transaction with the batches other pullers handed over meanwhile, and the broker acknowledges
it once that has returned. A handler that fails has its failure recorded (retried with backoff and
parked after ``max_attempts`` from the database, exactly as with the in-process adapter), so the
batch is still acknowledged; only a database that is away makes the batch go back to the broker.

Due retries run here, not in the relay: a loop on the relay's retry timer, inside the outbox's
retry claim (``claim(0)``), so two processes never retry the same delivery at once.

:meth:`Consumers.abort` is a crash without the process dying (tests, a stop that outlived its
grace): batches being handled are cancelled, their transactions roll back, and the broker offers
them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from core.errors import OutcomeUnknown, Unavailable
from host.consumer_gather import Gather
from host.delivery import Deliveries
from host.pluginapi import EventHandler
from host.relay import MAX_PAUSE_SECONDS, consumers_of
from ports.messaging import Consumption, Handle, Messaging
from ports.storage import Storage, StoredEvent

log = logging.getLogger("shifo.consumers")
SHARED_GROUP = "modules"  # the one consumer group of every module's handlers, when they share


class Consumers:
    def __init__(self, storage: Storage, messaging: Messaging, handlers: list[EventHandler], *,
                 batch: int = 100, max_attempts: int = 5, backoff_seconds: float = 0.5,
                 retry_seconds: float = 1.0, shared: bool = False) -> None:
        self.storage, self.messaging, self.batch = storage, messaging, batch
        self.shared = shared
        self.deliveries = Deliveries(storage, consumers_of(handlers), max_attempts=max_attempts,
                                     backoff_seconds=backoff_seconds)
        self.retry_seconds = min(retry_seconds, backoff_seconds, 1.0)
        self._consumptions: list[Consumption] = []
        self.gather = Gather(self.deliveries)
        self._retries: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._retries is not None:
            return
        try:
            if self.shared:
                types = sorted({t for h in self.deliveries.consumers.values() for t in h.event_types})
                self._consumptions.append(await self.messaging.consume(
                    SHARED_GROUP, types, self._handle_all, batch=self.batch))
            else:
                for handler in self.deliveries.consumers.values():
                    self._consumptions.append(await self.messaging.consume(
                        handler.consumer, handler.event_types, self._handle(handler), batch=self.batch))
        except BaseException:
            await self.stop()
            raise
        self._retries = asyncio.create_task(self._retry_loop(), name="shifo-consumer-retries")

    def _handle(self, handler: EventHandler) -> Handle:
        async def handle(batch: list[StoredEvent]) -> None:
            await self.gather.apply(handler, [(s.seq, s.event) for s in batch])

        return handle

    async def _handle_all(self, batch: list[StoredEvent]) -> None:
        events = [(s.seq, s.event) for s in batch]
        types = {s.event.event_type() for s in batch}
        await self.gather.apply_all([(h, events) for h in self.deliveries.consumers.values()
                                     if not types.isdisjoint(h.event_types)])

    async def _retry_loop(self) -> None:
        failing = False
        while True:
            try:
                async with self.storage.outbox.claim(0):
                    await self.deliveries.retry_due(self.batch)
                if failing:
                    log.warning("consumer retries resumed")
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: the next round tries again
                if not failing:
                    log.error("consumer retries paused: %s", _said(exc),
                              exc_info=not isinstance(exc, Unavailable | OutcomeUnknown))
                failing = True
            await asyncio.sleep(MAX_PAUSE_SECONDS / 10 if failing else self.retry_seconds)

    async def stop(self) -> None:
        """Stop taking events; batches being handled finish and are acknowledged first."""
        if self._retries is not None:
            self._retries.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retries
            self._retries = None
        consumptions, self._consumptions = self._consumptions, []
        closed = await asyncio.gather(*(c.close() for c in consumptions), return_exceptions=True)
        for outcome in closed:  # the broker away: its leases expire by themselves
            if isinstance(outcome, Exception):
                log.warning("closing a consumption failed: %s", _said(outcome))

    async def abort(self) -> None:
        """Cancel the batches being handled (rolled back, offered again by the broker), then stop."""
        self.gather.abort()
        await asyncio.sleep(0)
        await self.stop()


def _said(exc: Exception) -> str:
    return getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}"
