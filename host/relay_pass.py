"""The relay's passes: claim pending events and hand them on (:mod:`host.relay` decides when).

A pass claims batches of pending events until one comes back short. What it does with a batch
depends on the messaging adapter (``ports.messaging``):

* **not durable** (``inprocess``): :class:`host.delivery.Deliveries` runs the module handlers,
  all consumers in the claim's own transaction, or, after a handler raised there, consumer by
  consumer; then the batch is published for live subscribers. Due retries run here too.
* **durable** (``nats``): no handler runs here. Inside the claim the batch is published and the
  broker's acknowledgements awaited, then the rows are marked delivered and the claim commits. A
  crash between the two publishes the batch again; the broker drops it by event id. Module
  consumers (:mod:`host.consumers`) take the events from the broker and run due retries.

Several relays share the work: a claim takes the partitions (``core.partitions``) no other relay
holds, so a claim may come back short while others work. If the storage says partitions with
pending rows were busy (``busy`` on the batch), :attr:`Passes.busy` tells the relay so.

A pass claims only events above the relay's *floor*: every event at or below it is delivered.
:meth:`Passes.settle` (the relay's retry timer) reads the outbox horizon
(:mod:`host.outbox_horizon`: no row at or below it can still commit), drains, and then raises the
floor to that horizon, so a pass right after a commit never walks the delivered rows' dead index
entries. A drain that skipped busy partitions leaves the floor where it was: rows of those may
still be pending below the horizon. A ``full`` settle (the relay asks for one every
``FULL_SCAN_SECONDS``) starts from the bottom instead: it finds events re-queued by
``shifo events retry`` in another process, and a row whose writer held its ``seq`` past the
horizon's give-up time.

Due retries run in a claim of their own (the claim alone, no batch), so two relays never retry
the same delivery at once, and their outcome (cleared, or an attempt more and perhaps parked)
commits whatever the next batch does. A retried event reaches its consumer after later events of
the same patient: ordering is per patient for deliveries that succeed first time.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from core.events import Event
from host import delivery_metrics
from host.delivery import Deliveries, Refused
from host.outbox_horizon import Horizon
from ports.messaging import Messaging
from ports.storage import Storage, StoredEvent

log = logging.getLogger("shifo.relay")


class Passes:
    """The claim-and-deliver passes, and what they leave the relay's loop: the floor, and whether
    a backlog (a full batch, or a commit's wake-up meanwhile) or busy partitions call for another."""

    def __init__(self, storage: Storage, deliveries: Deliveries, messaging: Messaging | None, *,
                 batch: int, wake: asyncio.Event) -> None:
        self.storage, self.deliveries, self.messaging = storage, deliveries, messaging
        self.durable = bool(messaging is not None and messaging.durable)  # then it only publishes
        self.batch = batch
        self.count = 0  # passes run (a pass claims until a batch comes back short)
        self.floor = -1  # every event with seq <= floor is delivered (see the module docstring)
        self.backlog = False  # the last pass met a full batch or was woken meanwhile: go again
        self.busy = False  # the last claim found partitions with pending rows held elsewhere
        self._skipped = False  # some claim of the last pass did: its floor must not rise
        self._horizon = Horizon(storage, patients=False)
        self._wake = wake  # the relay's: cleared as each claim begins, so a later commit is seen

    async def settle(self, full: bool) -> None:
        """Due retries and a drain (from the bottom if ``full``), then the floor up to the horizon
        read before it: every row at or below that horizon was visible to the drain (unless a claim
        skipped partitions another relay held: then the floor stays)."""
        horizon = await self._horizon.catch_up()
        await self.drain(retries=True, after=-1 if full else self.floor)
        if not self._skipped:  # rows of partitions another relay held may still be pending
            self.floor = max(self.floor, horizon)

    async def drain(self, *, retries: bool = True, after: int = -1) -> int:
        """Due retries (``retries``; not with a durable adapter: its consumers run them), then
        everything pending now with ``seq > after``; returns events dispatched."""
        total = 0
        together = True
        self.count += 1
        self.backlog = self.busy = self._skipped = False
        if retries and not self.durable:  # in a claim of their own: committed whatever the batch does
            async with self.storage.outbox.claim(0):
                await self.deliveries.retry_due(self.batch)
        while True:
            self._wake.clear()  # a commit from here on wakes the next pass
            handled: list[tuple[str, list[Event]]] = []
            try:
                async with self.storage.outbox.claim(self.batch, after) as claimed:
                    batch = claimed.events
                    self.busy = bool(getattr(claimed, "busy", False))
                    self._skipped = self._skipped or self.busy
                    seqs = [s.seq for s in batch]
                    if self.durable:
                        if batch:  # stored by the broker before the rows are marked
                            await self._publish(batch)
                        await claimed.delivered(seqs)
                    elif together and batch:
                        async with claimed.transaction() as tx:
                            handled = await self.deliveries.all_in(
                                [(s.seq, s.event) for s in batch], tx,
                                inbox=getattr(claimed, "recorded_apart", True))
                            await claimed.delivered(seqs)
                    else:
                        await self.deliveries.by_consumer([(s.seq, s.event) for s in batch])
                        await claimed.delivered(seqs)
            except Refused:
                together = False  # all rolled back: this batch again, consumer by consumer
                continue
            together = True
            delivery_metrics.handled_each(handled)  # the claim has committed
            total += len(batch)
            if not self.durable and batch:
                await self._live(batch)
            if len(batch) < self.batch:
                self.backlog = self.backlog or self._wake.is_set()
                return total
            self.backlog = True

    async def _publish(self, batch: Sequence[StoredEvent]) -> None:
        assert self.messaging is not None
        await self.messaging.publish(batch)  # raises Unavailable: the claim rolls back

    async def _live(self, batch: Sequence[StoredEvent]) -> None:
        """After the commit: live subscribers only (they resume from the outbox if they miss it)."""
        if self.messaging is None:
            return
        try:
            await self.messaging.publish(batch)
        except Exception:
            log.exception("publishing %d events to live subscribers failed", len(batch))
