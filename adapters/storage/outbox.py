"""The outbox: committed events waiting for the relay, per-consumer failures and parked events.

Ordering: one relay at a time claims a batch (PostgreSQL: a transaction-scoped advisory lock, so
several host processes can run relays safely; SQLite: one process, an asyncio lock) and delivers it
in ``seq`` order, which is commit order for the writes of one patient.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.storage.tables import delivery_failures, outbox
from core.clock import utcnow
from core.events import Event, decode_event
from ports.storage import FailedDelivery, StoredEvent

_RELAY_LOCK_KEY = 0x5348_4946_4F  # "SHIFO"


class SqlOutboxBatch:
    def __init__(self, events: list[StoredEvent], conn: AsyncConnection | None, engine: AsyncEngine):
        self.events = events
        self._conn = conn
        self._engine = engine

    async def delivered(self, seqs: Sequence[int]) -> None:
        if not seqs:
            return
        stmt = update(outbox).where(outbox.c.seq.in_(list(seqs))).values(delivered_at=utcnow())
        if self._conn is not None:
            await self._conn.execute(stmt)
        else:
            async with self._engine.begin() as conn:
                await conn.execute(stmt)


def _stored(row: Any) -> StoredEvent:
    return StoredEvent(seq=row.seq, event=decode_event(row.event_type, row.payload))


class SqlOutbox:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._local = asyncio.Lock()

    def _pending(self, limit: int) -> Any:
        return (
            select(outbox.c.seq, outbox.c.event_type, outbox.c.payload)
            .where(outbox.c.delivered_at.is_(None))
            .order_by(outbox.c.seq)
            .limit(limit)
        )

    @asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[SqlOutboxBatch]:
        if self.engine.dialect.name == "postgresql":
            async with self.engine.begin() as conn:
                got = await conn.scalar(select(func.pg_try_advisory_xact_lock(_RELAY_LOCK_KEY)))
                rows = (await conn.execute(self._pending(limit))).all() if got else []
                yield SqlOutboxBatch([_stored(r) for r in rows], conn, self.engine)
            return
        async with self._local:
            async with self.engine.connect() as conn:
                conn = await conn.execution_options(sqlite_begin="DEFERRED")
                async with conn.begin():
                    rows = (await conn.execute(self._pending(limit))).all()
            yield SqlOutboxBatch([_stored(r) for r in rows], None, self.engine)

    async def record_failure(
        self, seq: int, consumer: str, error: str, next_attempt_at: datetime, park: bool
    ) -> None:
        key = (delivery_failures.c.seq == seq) & (delivery_failures.c.consumer == consumer)
        async with self.engine.begin() as conn:
            changed = await conn.execute(
                update(delivery_failures)
                .where(key)
                .values(attempts=delivery_failures.c.attempts + 1, last_error=error[:4000],
                        next_attempt_at=next_attempt_at, parked=park)
            )
            if changed.rowcount == 0:
                await conn.execute(
                    delivery_failures.insert().values(
                        seq=seq, consumer=consumer, attempts=1, last_error=error[:4000],
                        next_attempt_at=next_attempt_at, parked=park)
                )

    async def clear_failure(self, seq: int, consumer: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(delivery_failures).where(
                    (delivery_failures.c.seq == seq) & (delivery_failures.c.consumer == consumer))
            )

    def _failures(self) -> Any:
        f = delivery_failures.c
        return select(f.seq, f.consumer, f.attempts, f.last_error, f.next_attempt_at, f.parked,
                      outbox.c.event_type, outbox.c.event_id, outbox.c.payload).join(
            outbox, outbox.c.seq == f.seq).order_by(f.seq, f.consumer)

    @staticmethod
    def _failed(row: Any) -> FailedDelivery:
        return FailedDelivery(seq=row.seq, consumer=row.consumer, event_type=row.event_type,
                              event_id=row.event_id, attempts=row.attempts, last_error=row.last_error,
                              next_attempt_at=row.next_attempt_at, parked=row.parked)

    async def due_failures(self, now: datetime, limit: int) -> list[tuple[FailedDelivery, Event]]:
        stmt = self._failures().where(
            delivery_failures.c.parked.is_(False), delivery_failures.c.next_attempt_at <= now
        ).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [(self._failed(r), decode_event(r.event_type, r.payload)) for r in rows]

    async def failures(self, parked_only: bool = True) -> list[FailedDelivery]:
        stmt = self._failures()
        if parked_only:
            stmt = stmt.where(delivery_failures.c.parked.is_(True))
        async with self.engine.connect() as conn:
            return [self._failed(r) for r in (await conn.execute(stmt)).all()]

    async def retry(self, seqs: Sequence[int] | None = None) -> int:
        stmt = update(delivery_failures).where(delivery_failures.c.parked.is_(True))
        if seqs is not None:
            stmt = stmt.where(delivery_failures.c.seq.in_(list(seqs)))
        async with self.engine.begin() as conn:
            result = await conn.execute(stmt.values(parked=False, attempts=0, next_attempt_at=utcnow()))
        return int(result.rowcount)

    async def lag(self) -> tuple[int, float]:
        stmt = select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.delivered_at.is_(None))
        async with self.engine.connect() as conn:
            count, oldest = (await conn.execute(stmt)).one()
        if oldest is None:
            return 0, 0.0
        if isinstance(oldest, str):
            oldest = datetime.fromisoformat(oldest)
        age = (utcnow().replace(tzinfo=None) - oldest.replace(tzinfo=None)).total_seconds()
        return int(count), max(age, 0.0)

