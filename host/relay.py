"""The outbox relay: delivers committed events to module handlers, then to live subscribers.

Woken right after every commit that published events (and polled as a fallback for events
committed by other processes). Each handler runs in its own transaction that also records the
event id for that consumer, so a re-delivered event is never applied twice. A handler that raises
is retried with exponential backoff and parked after ``max_attempts``; the others still get the
event. Parked deliveries are listed by ``shifo events failed`` and re-queued by ``events retry``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import timedelta

from core.clock import utcnow
from core.events import Event
from host.pluginapi import EventHandler
from ports.messaging import Messaging
from ports.storage import Storage

log = logging.getLogger("shifo.relay")


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
    ) -> None:
        self.storage = storage
        self.messaging = messaging
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.by_type: dict[str, list[EventHandler]] = defaultdict(list)
        for handler in handlers:
            for event_type in handler.event_types:
                self.by_type[event_type].append(handler)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
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
        while True:
            try:
                await self.drain()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly away: keep the relay alive
                log.exception("relay pass failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()

    async def drain(self) -> int:
        """Deliver everything pending now, then due retries; returns events dispatched."""
        total = 0
        while True:
            self._wake.clear()
            async with self.storage.outbox.claim(self.batch) as claimed:
                for stored in claimed.events:
                    await self._dispatch(stored.seq, stored.event)
                await claimed.delivered([s.seq for s in claimed.events])
                count = len(claimed.events)
            total += count
            if count < self.batch:
                break
        for failure, event in await self.storage.outbox.due_failures(utcnow(), self.batch):
            for handler in self.by_type.get(event.event_type(), []):
                if handler.consumer == failure.consumer:
                    await self._deliver(failure.seq, event, handler, failure.attempts, retry=True)
        return total

    async def _dispatch(self, seq: int, event: Event) -> None:
        for handler in self.by_type.get(event.event_type(), []):
            await self._deliver(seq, event, handler, attempts=0, retry=False)
        if self.messaging is not None:
            try:
                await self.messaging.publish(event)
            except Exception:  # live subscribers resume from the outbox
                log.exception("publishing %s to messaging failed", event.id)

    async def _deliver(self, seq: int, event: Event, handler: EventHandler, attempts: int,
                       retry: bool) -> None:
        try:
            async with self.storage.transaction() as tx:
                if await tx.first_delivery(handler.consumer, event.id):
                    await handler.handle(event, tx)
        except Exception as exc:
            tried = attempts + 1
            park = tried >= self.max_attempts
            delay = self.backoff_seconds * (2 ** (tried - 1))
            log.warning("consumer %s failed on %s (%s, attempt %d)%s", handler.consumer,
                        event.event_type(), event.id, tried, ", parked" if park else "")
            await self.storage.outbox.record_failure(
                seq, handler.consumer, f"{type(exc).__name__}: {exc}",
                utcnow() + timedelta(seconds=delay), park)
            return
        if retry:
            await self.storage.outbox.clear_failure(seq, handler.consumer)
