"""Messaging: committed events on their way to live subscribers (the patient app, other hosts).

The relay publishes each event after its plugin handlers ran. Delivery here is best-effort and
fast; durability is the outbox's job, so a subscriber that reconnects resumes from the outbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Protocol

from core.events import Event

#: the port as a module reaches it: ``ctx.services[SERVICE]`` (the host offers it to every module)
SERVICE = "messaging"


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def close(self) -> None: ...


class Messaging(Protocol):
    async def publish(self, event: Event) -> None: ...

    async def subscribe(self, event_types: Collection[str] | None = None) -> Subscription:
        """Events published from now on, filtered by type when ``event_types`` is given."""

    async def ping(self) -> None:
        """Raise if the broker cannot be reached."""

    async def close(self) -> None: ...
