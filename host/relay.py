"""The outbox relay: delivers committed events to module handlers, then to live subscribers.

Woken right after every commit that published events, then pausing ``gather_seconds`` so commits
arriving together share a pass (and polled as a fallback for events committed by other
processes). A batch goes to every consumer in the claim's own transaction, which also records
each (consumer, event id) so a re-delivered event is never applied twice and marks the batch
delivered: one commit per batch. If a handler raises, all of it rolls back and the batch is
delivered again consumer by consumer, each in a transaction of its own (and one event at a time
for the consumer that failed), so a failure stays with its consumer and event. A handler that
keeps raising is retried with exponential backoff and parked after ``max_attempts``; the others
still get the event. Parked deliveries are listed by ``shifo events failed`` and re-queued by
``events retry``.

Retries run while the relay holds the outbox claim (before the batch writes anything), so two
relays never retry the same delivery at once. A retried event reaches its consumer after later
events of the same patient: ordering is per patient for deliveries that succeed first time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from datetime import timedelta

from core.clock import utcnow
from core.errors import ConfigurationError
from core.events import Event
from host.pluginapi import EventHandler
from ports.messaging import Messaging
from ports.storage import Storage, Transaction

log = logging.getLogger("shifo.relay")
MAX_BACKOFF_SECONDS = 3600.0


class _Refused(Exception):
    """A handler failed while every consumer shared the claim's transaction."""


def _offered(handler: EventHandler, event: Event) -> bool:
    return event.event_type() in handler.event_types and (handler.accepts is None or handler.accepts(event))


class Relay:
    def __init__(
        self,
        storage: Storage,
        handlers: list[EventHandler],
        messaging: Messaging | None = None,
        *,
        batch: int = 200,
        poll_seconds: float = 1.0,
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
        gather_seconds: float = 0.0,
    ) -> None:
        self.storage = storage
        self.messaging = messaging
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.gather_seconds = gather_seconds
        self.by_type: dict[str, list[EventHandler]] = defaultdict(list)
        self.consumers: dict[str, EventHandler] = {}
        for handler in handlers:
            if handler.consumer in self.consumers:  # they would share one idempotency record
                raise ConfigurationError(f"event consumer {handler.consumer!r} is registered twice")
            self.consumers[handler.consumer] = handler
            for event_type in handler.event_types:
                self.by_type[event_type].append(handler)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Called after a commit; safe from another thread or event loop (then it is forwarded)."""
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if self._loop is None or here is self._loop:
            self._wake.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self.storage.on_commit(self.wake)
        self._task = asyncio.create_task(self._run(), name="shifo-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        # due retries are looked up on a timer, not on every commit's wake-up: the hot path
        # should cost one claim per batch of events, not an extra query per request
        retry_every = min(self.poll_seconds, self.backoff_seconds, 1.0)
        next_retry = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                retries = loop.time() >= next_retry
                if retries:
                    next_retry = loop.time() + retry_every
                await self.drain(retries=retries)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away: keep the relay alive
                log.exception("relay pass failed")
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that
            # arrives as the wake-up does, and stop() then waited for a relay that never ended
            woken = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(retry_every):
                    await self._wake.wait()
                    woken = True
            if woken and self.gather_seconds > 0:
                # commits arriving together then share one pass: at one request at a time the
                # relay otherwise ran a claim and a transaction per consumer for every event
                await asyncio.sleep(self.gather_seconds)

    async def drain(self, *, retries: bool = True) -> int:
        """Deliver due retries (``retries``), then everything pending now; returns events dispatched."""
        total = 0
        together = True
        while True:
            self._wake.clear()  # a commit from here on wakes the next pass
            try:
                async with self.storage.outbox.claim(self.batch) as claimed:
                    if retries:  # before the batch writes anything, holding the claim
                        retries = False
                        await self._retry_due()
                    batch = [(s.seq, s.event) for s in claimed.events]
                    if together and batch:
                        async with claimed.transaction() as tx:
                            await self._deliver_all(batch, tx)
                            await claimed.delivered([seq for seq, _ in batch])
                    else:
                        await self._dispatch(batch)
                        await claimed.delivered([seq for seq, _ in batch])
            except _Refused:
                together = False  # all rolled back: this batch again, consumer by consumer
                continue
            together = True
            total += len(batch)
            await self._publish(batch)
            if len(batch) < self.batch:
                return total

    async def _retry_due(self) -> None:
        now = utcnow()
        for failure, event in await self.storage.outbox.due_failures(now, self.batch):
            handler = self.consumers.get(failure.consumer)
            if handler is None or not _offered(handler, event):
                await self.storage.outbox.record_failure(
                    failure.seq, failure.consumer, "no handler of this consumer takes this event now",
                    now, park=True)
                continue
            await self._deliver(failure.seq, event, handler, failure.attempts, retry=True)

    async def _deliver_all(self, batch: list[tuple[int, Event]], tx: Transaction) -> None:
        """Every consumer's events of the batch in the claim's transaction: one commit for the
        batch, its idempotency records and its delivery mark. A failing handler raises _Refused."""
        offered = [(h, [e for _, e in batch if _offered(h, e)]) for h in self.consumers.values()]
        fresh = await tx.fresh_deliveries([(h.consumer, e.id) for h, mine in offered for e in mine])
        for handler, mine in offered:
            new = [e for e in mine if (handler.consumer, e.id) in fresh]
            if not new:
                continue
            try:
                if handler.handle_batch is not None:
                    await handler.handle_batch(new, tx)
                else:
                    for event in new:
                        await handler.handle(event, tx)
            except Exception as exc:
                log.info("consumer %s failed within a batch of %d: delivering consumer by consumer",
                         handler.consumer, len(batch))
                raise _Refused from exc

    async def _dispatch(self, batch: list[tuple[int, Event]]) -> None:
        """Each consumer gets its events of the batch in commit order, in one transaction when
        they all succeed; if one fails, that transaction rolls back and they are delivered one by
        one, so only the failing event is retried and parked."""
        for handler in self.consumers.values():
            mine = [(seq, e) for seq, e in batch if _offered(handler, e)]
            if len(mine) > 1 and await self._deliver_together(mine, handler):
                continue
            for seq, event in mine:
                await self._deliver(seq, event, handler, attempts=0, retry=False)

    async def _publish(self, batch: list[tuple[int, Event]]) -> None:
        if self.messaging is None:
            return
        for _, event in batch:
            try:
                await self.messaging.publish(event)
            except Exception:  # live subscribers resume from the outbox
                log.exception("publishing %s to messaging failed", event.id)

    async def _deliver_together(self, events: list[tuple[int, Event]], handler: EventHandler) -> bool:
        try:
            async with self.storage.transaction() as tx:
                fresh = await tx.first_deliveries(handler.consumer, [e.id for _, e in events])
                new = [event for _, event in events if event.id in fresh]
                if handler.handle_batch is not None and new:
                    await handler.handle_batch(new, tx)
                else:
                    for event in new:
                        await handler.handle(event, tx)
        except Exception:
            log.info("consumer %s failed within a batch of %d: delivering one by one",
                     handler.consumer, len(events))
            return False
        return True

    async def _deliver(self, seq: int, event: Event, handler: EventHandler, attempts: int,
                       retry: bool) -> None:
        try:
            async with self.storage.transaction() as tx:
                if await tx.first_delivery(handler.consumer, event.id):
                    await handler.handle(event, tx)
        except Exception as exc:
            tried = attempts + 1
            park = tried >= self.max_attempts
            delay = min(self.backoff_seconds * 2 ** min(tried - 1, 32), MAX_BACKOFF_SECONDS)
            log.warning("consumer %s failed on %s (%s, attempt %d)%s", handler.consumer,
                        event.event_type(), event.id, tried, ", parked" if park else "")
            await self.storage.outbox.record_failure(
                seq, handler.consumer, f"{type(exc).__name__}: {exc}",
                utcnow() + timedelta(seconds=delay), park)
            return
        if retry:
            await self.storage.outbox.clear_failure(seq, handler.consumer)
