"""Entry point ``messaging.inprocess``: live fan-out to subscribers in this process only.

Not durable: the outbox is the only log, and the relay delivers to the module consumers itself
(``host.relay``), then publishes here for live subscribers (the patient stream, the staff alert
stream). A subscriber that falls behind is not waited for: its queue is bounded, events that do
not fit are dropped, and once it has read what was queued it gets ``None`` ("you may have missed
events: re-read the outbox"), then the events published after.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Any

from core.errors import ConfigurationError
from ports.messaging import Consumption, Handle, MessagingStatus
from ports.storage import StoredEvent

_END = object()  # the end marker in a subscriber's queue (None means "missed some")


class InProcessSubscription:
    def __init__(self, hub: InProcessMessaging, types: frozenset[str] | None, maxsize: int) -> None:
        self._hub = hub
        self.types = types
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self.missed = False  # an event was dropped: say so once the queue is read
        self.closed = False

    def offer(self, stored: StoredEvent) -> None:
        if self.types is not None and stored.event.event_type() not in self.types:
            return
        try:
            self.queue.put_nowait(stored)
        except asyncio.QueueFull:  # a slow subscriber: it re-reads the outbox when told
            self.missed = True

    async def __aiter__(self) -> AsyncIterator[StoredEvent | None]:
        while True:
            if self.missed and self.queue.empty():
                self.missed = False
                yield None
                continue
            item = await self.queue.get()
            if item is _END:
                return
            yield item

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._hub.subscribers.discard(self)
        if self.queue.full():  # make room for the end marker: the subscriber is leaving anyway
            self.queue.get_nowait()
        self.queue.put_nowait(_END)


class InProcessMessaging:
    name = "inprocess"
    durable = False

    def __init__(self, maxsize: int = 1000) -> None:
        self.subscribers: set[InProcessSubscription] = set()
        self.maxsize = maxsize

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        for sub in list(self.subscribers):
            for stored in events:
                sub.offer(stored)

    async def consume(self, group: str, event_types: Collection[str], handle: Handle, *,
                      batch: int = 100) -> Consumption:
        raise ConfigurationError("the in-process adapter is not durable: the relay delivers to the "
                                 "module consumers itself (set SHIFO_MESSAGING_ADAPTER=nats for "
                                 "separate consumer processes)")

    async def subscribe(self, event_types: Collection[str] | None = None) -> InProcessSubscription:
        sub = InProcessSubscription(self, frozenset(event_types) if event_types else None, self.maxsize)
        self.subscribers.add(sub)
        return sub

    async def status(self) -> MessagingStatus:
        return MessagingStatus(adapter=self.name, durable=False,
                               stream={"subscribers": len(self.subscribers)})

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        for sub in list(self.subscribers):
            await sub.close()


def create(settings: Any) -> InProcessMessaging:
    return InProcessMessaging()
