"""messaging.nats: one consumer group in this process, a puller for each partition it leases.

Each (group, partition) is a durable pull consumer filtered to the partition's subjects of the
group's event types (explicit acks, ``max_ack_pending`` = one batch, delivering the whole stream to
a new group). A lease keeper (this module, on a timer of a third of the lease TTL) refreshes the
leases, hands back partitions above this process's share and takes free ones; each held partition
gets a :class:`.nats_pull.Puller` task, stopped at once when its lease is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from core.partitions import PARTITIONS
from ports.messaging import Handle

from .nats_connection import BROKER_ERRORS
from .nats_leases import Leases
from .nats_names import Names
from .nats_pull import Puller

log = logging.getLogger("shifo.messaging.nats")


class GroupConsumption:
    def __init__(self, nc: Any, js: Any, names: Names, group: str, types: list[str], handle: Handle, *,
                 leases: Leases, batch: int, ack_wait: float, backoff: float) -> None:
        self.nc, self.js, self.names = nc, js, names
        self.group, self.types, self.handle = group, types, handle
        self.leases, self.batch, self.ack_wait, self.backoff = leases, batch, ack_wait, backoff
        self.puller = Puller(nc, js, names, group, handle, leases=leases, batch=batch,
                             fetch_timeout=max(0.2, min(2.0, ack_wait / 2)), backoff=backoff,
                             ack_wait=ack_wait)
        self._pullers: dict[int, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._closing = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for partition in range(PARTITIONS):
            await self.js.add_consumer(self.names.stream, ConsumerConfig(
                durable_name=self.names.consumer(self.group, partition),
                filter_subjects=[self.names.subject(partition, t) for t in self.types],
                ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait, max_ack_pending=self.batch,
                deliver_policy=DeliverPolicy.ALL,
                metadata={"shifo_group": self.group, "shifo_partition": str(partition)}))
        self._ticker = asyncio.create_task(self._tick_forever(), name=f"nats-leases-{self.group}")

    @property
    def partitions(self) -> set[int]:
        """The partitions this process pulls just now."""
        return {p for p, (task, stop) in self._pullers.items()
                if not task.done() and not stop.is_set() and self.leases.valid(p)}

    async def _tick_forever(self) -> None:
        while not self._closing.is_set():
            try:
                await self._tick()
            except BROKER_ERRORS as exc:
                log.warning("nats leases of %s: %s %s %s", self.group, exc.__class__.__name__,
                            getattr(exc, "err_code", ""), getattr(exc, "description", ""))
            except Exception:  # never let the lease keeper die: its pullers would stop for good
                log.exception("nats leases of %s", self.group)
            for partition in [p for p in self._pullers if not self.leases.valid(p)]:
                self._pullers[partition][1].set()  # lost or not refreshed in time: stop at once
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.leases.ttl / 3)

    async def _tick(self) -> None:
        await self._reap()
        held = list(self.leases.revisions)
        for partition, kept in zip(held, await asyncio.gather(*map(self.leases.refresh, held)), strict=True):
            if not kept and partition in self._pullers:
                self._pullers[partition][1].set()
        share = await self.leases.share()
        active = sorted(p for p, (_, stop) in self._pullers.items() if not stop.is_set())
        for partition in active[share:]:  # above our share: handed back after the batch in hand
            self._pullers[partition][1].set()
        free = [p for p in range(PARTITIONS) if p not in self.leases.revisions and p not in self._pullers]
        random.shuffle(free)
        for partition in free:
            if len(self.leases.revisions) >= share or self._closing.is_set():
                break
            if await self.leases.take(partition):
                self._start(partition)

    async def _reap(self) -> None:
        """Pullers that ended: asked to stop or out of lease -> the lease goes back (if still
        ours); ended by themselves (the consumer could not be bound) -> started again."""
        for partition, (task, stop) in list(self._pullers.items()):
            if task.done():
                del self._pullers[partition]
                if not task.cancelled() and (exc := task.exception()) is not None:
                    log.error("nats puller %s/%d ended: %r", self.group, partition, exc)
                if stop.is_set() or not self.leases.valid(partition):
                    await self.leases.release(partition)
                else:
                    self._start(partition)

    def _start(self, partition: int) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(self.puller.run(partition, stop), name=f"nats-{self.group}-{partition}")
        self._pullers[partition] = (task, stop)

    async def _stop(self, partitions: list[int]) -> None:
        pullers = [self._pullers.pop(p) for p in partitions]
        for _, stop in pullers:
            stop.set()
        await asyncio.gather(*(task for task, _ in pullers))

    async def close(self) -> None:
        """Stop after the batches in hand are acknowledged; hand the leases back at once."""
        self._closing.set()
        if self._ticker is not None:  # it holds no batch: a lease it was taking just expires
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self._stop(list(self._pullers))
        for partition in list(self.leases.revisions):
            with contextlib.suppress(*BROKER_ERRORS):
                await self.leases.release(partition)
        with contextlib.suppress(*BROKER_ERRORS):
            await self.leases.leave()

