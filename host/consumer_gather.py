"""Batches from the broker's pullers, applied together: one transaction for what arrived meanwhile.

With a durable adapter every (consumer group, partition) this process leases has a puller, each
handing over a batch at a time (:mod:`host.consumers`). Under load many arrive while one is
being applied: one transaction each would cost a commit per partition and consumer, where the
in-process relay pays one per claim. So the batches handed over while a transaction runs wait
for it and then go together in the next (group commit: no timer, no delay when idle).

Order is kept: a puller hands over its partition's next batch only after the last one returned,
so a gathering holds at most one batch per (group, partition), and a patient's events are in one
partition. Effects stay once-only: :meth:`host.delivery.Deliveries.each_in` does the inbox check
per (consumer, event). If a handler fails, the transaction rolls back and each batch is applied
on its own (:meth:`~host.delivery.Deliveries.of_consumer`: failures recorded per event), so a
failure stays with its consumer and event; if the database is away, every batch of the gathering
goes back to the broker.
"""

from __future__ import annotations

import asyncio
import contextlib

from core.errors import OutcomeUnknown, Unavailable
from host import delivery_metrics
from host.delivery import Batch, Deliveries, Refused
from host.pluginapi import EventHandler

Pairs = list[tuple[EventHandler, Batch]]  # consumers and their batch, handed over as one
Waiting = tuple[Pairs, "asyncio.Future[None]"]


class Gather:
    def __init__(self, deliveries: Deliveries) -> None:
        self.deliveries = deliveries
        self.together = 0  # gatherings of several batches applied in one transaction
        self._waiting: list[Waiting] = []
        self._runner: asyncio.Task[None] | None = None

    async def apply(self, handler: EventHandler, batch: Batch) -> None:
        """``handler``'s ``batch``, applied with whatever else is handed over meanwhile; raises as
        :meth:`~host.delivery.Deliveries.of_consumer` does (then the batch was not handled)."""
        await self.apply_all([(handler, batch)])

    async def apply_all(self, pairs: Pairs) -> None:
        """Several consumers' batches handed over as one (a shared group's batch): settled together."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((pairs, done))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="shifo-consumer-gather")
        await asyncio.shield(done)  # a puller told to stop lets its batch finish

    def abort(self) -> None:
        """Cancel the gathering being applied (it rolls back: its batches go back to the broker),
        and send back the batches waiting for the next (a runner cancelled before it began would
        settle none of them)."""
        if self._runner is not None:
            self._runner.cancel()
        _fail(self._waiting, Unavailable("consumers stopped mid-batch"))
        self._waiting = []

    async def _run(self) -> None:
        while self._waiting:
            taken, self._waiting = self._waiting, []
            try:
                await self._apply(taken)
            except asyncio.CancelledError:
                _fail(taken + self._waiting, Unavailable("consumers stopped mid-batch"))
                self._waiting = []
                raise
            except Exception as exc:  # not expected (_apply settles every future): never lose one
                _fail(taken, exc)

    async def _apply(self, taken: list[Waiting]) -> None:
        if len(taken) > 1 or len(taken[0][0]) > 1:
            try:
                async with self.deliveries.storage.transaction() as tx:
                    done = await self.deliveries.each_in([p for pairs, _ in taken for p in pairs], tx)
            except Refused:
                pass  # rolled back: each batch on its own below
            except (Unavailable, OutcomeUnknown) as exc:
                _fail(taken, exc)
                return
            else:
                self.together += 1
                delivery_metrics.handled_each(done)
                for _, future in taken:
                    _settle(future)
                return
        for pairs, future in taken:
            try:
                for handler, batch in pairs:
                    await self.deliveries.of_consumer(handler, batch)
            except Exception as exc:
                _fail([(pairs, future)], exc)
            else:
                _settle(future)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fail(taken: list[Waiting], exc: BaseException) -> None:
    for _, future in taken:
        if not future.done():
            future.set_exception(exc)
            with contextlib.suppress(BaseException):
                future.exception()  # retrieved: a puller that stopped waiting logs nothing
