"""Entry point ``messaging.inprocess``: fan-out to subscribers in this process only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from typing import Any

from core.events import Event


class InProcessSubscription:
    def __init__(self, hub: InProcessMessaging, types: frozenset[str] | None, maxsize: int) -> None:
        self._hub = hub
        self.types = types
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)

    def offer(self, event: Event) -> None:
        if self.types is None or event.event_type() in self.types:
            try:
                self.queue.put_nowait(event)
            except asyncio.QueueFull:  # a slow subscriber resumes from the outbox
                pass

    async def __aiter__(self) -> AsyncIterator[Event]:
        while (event := await self.queue.get()) is not None:
            yield event

    async def close(self) -> None:
        self._hub.subscribers.discard(self)
        if self.queue.full():  # make room for the end marker: the subscriber is leaving anyway
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class InProcessMessaging:
    def __init__(self, maxsize: int = 1000) -> None:
        self.subscribers: set[InProcessSubscription] = set()
        self.maxsize = maxsize

    async def publish(self, event: Event) -> None:
        for sub in list(self.subscribers):
            sub.offer(event)

    async def subscribe(self, event_types: Collection[str] | None = None) -> InProcessSubscription:
        sub = InProcessSubscription(self, frozenset(event_types) if event_types else None, self.maxsize)
        self.subscribers.add(sub)
        return sub

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        for sub in list(self.subscribers):
            await sub.close()


def create(settings: Any) -> InProcessMessaging:
    return InProcessMessaging()
