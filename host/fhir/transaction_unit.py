"""The unit of work a transaction Bundle's entries are written in, with fewer round trips.

Each entry is written by its module's ``create``, as the native route would write it alone: its
events and its audit entry. Here they are held back and written at the Bundle's end, each still its
own: the events with one statement (``publish_all``), the audit entries under one chain lock with
one head read and one insert (:class:`host.audit.Batch`). A failing entry raises before that, and
the unit rolls back with nothing held written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from core.events import Event
from host.audit import Batch
from ports.storage import Params, Transaction


class HeldEvents:
    """``tx``, its published events held until :meth:`flush` (a module cannot tell)."""

    def __init__(self, tx: Transaction) -> None:
        self.tx, self.events = tx, list[Event]()

    @property
    def dialect(self) -> str:
        return self.tx.dialect

    async def execute(self, statement: Any, params: Params = None) -> Any:
        return await self.tx.execute(statement, params)

    async def publish(self, event: Event) -> None:
        self.events.append(event)

    async def publish_all(self, events: Sequence[Event]) -> None:
        self.events.extend(events)

    async def first_delivery(self, consumer: str, event_id: UUID) -> bool:
        return await self.tx.first_delivery(consumer, event_id)

    async def first_deliveries(self, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
        return await self.tx.first_deliveries(consumer, event_ids)

    async def fresh_deliveries(self, wanted: Sequence[tuple[str, UUID]]) -> set[tuple[str, UUID]]:
        return await self.tx.fresh_deliveries(wanted)

    async def handled_before(self, wanted: Sequence[tuple[str, UUID]]) -> set[tuple[str, UUID]]:
        return await self.tx.handled_before(wanted)

    async def flush(self, audit: Batch) -> None:
        """The held events with one statement, then the held audit entries at once."""
        events, self.events = self.events, []
        await self.tx.publish_all(events)
        await audit.flush(self.tx)
