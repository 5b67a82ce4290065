"""The storage port over SQLAlchemy Core: one connection and transaction per unit of work."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.storage import migrate
from adapters.storage.outbox import SqlOutbox
from adapters.storage.plans import Plan, Runner
from adapters.storage.tables import inbox, outbox
from core.clock import utcnow
from core.events import Event, encode_event
from ports.storage import Params, is_prepared, prepared

_OUTBOX_INSERT = prepared(insert(outbox))
log = logging.getLogger("shifo.storage")


class SqlTransaction:
    def __init__(self, conn: AsyncConnection, runner: Runner | None = None) -> None:
        self.conn = conn
        self.published = 0
        self.runner = runner  # PostgreSQL: runs prepared statements on asyncpg directly

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    async def execute(self, statement: Any, params: Params = None) -> Any:
        if self.runner is not None and is_prepared(statement) and not isinstance(params, Sequence):
            values = params or {}
            plan = self.runner.plan(statement, values)
            if plan is not None:
                return await self.runner.run(plan, values)
        return await self.conn.execute(statement, params)

    async def publish(self, event: Event) -> None:
        await self.execute(
            _OUTBOX_INSERT,
            {
                "event_id": event.id,
                "event_type": event.event_type(),
                "patient": event.patient,
                "facility": event.facility,
                "payload": encode_event(event),
                "created_at": utcnow(),
            },
        )
        self.published += 1

    async def first_delivery(self, consumer: str, event_id: UUID) -> bool:
        ins = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        stmt = ins(inbox).values(consumer=consumer, event_id=event_id, processed_at=utcnow())
        result = await self.conn.execute(stmt.on_conflict_do_nothing())
        return bool(result.rowcount == 1)

    async def first_deliveries(self, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
        if not event_ids:
            return set()
        ins = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        now = utcnow()
        rows = [{"consumer": consumer, "event_id": e, "processed_at": now} for e in event_ids]
        stmt = ins(inbox).values(rows).on_conflict_do_nothing().returning(inbox.c.event_id)
        return set((await self.conn.execute(stmt)).scalars().all())


class SqlStorage:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.outbox = SqlOutbox(engine)
        self._listeners: list[Callable[[], None]] = []
        self._plans: dict[tuple[int, tuple[str, ...]], Plan | None] = {}

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self, *, readonly: bool = False) -> AsyncIterator[SqlTransaction]:
        async with self.engine.connect() as conn:
            if readonly and self.dialect == "sqlite":
                conn = await conn.execution_options(sqlite_begin="DEFERRED")
            elif readonly:
                # READ COMMITTED gives each statement its own snapshot anyway, so a read-only unit
                # needs no BEGIN/COMMIT round trips: one statement, one round trip
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            async with conn.begin():
                runner = Runner(conn, self._plans) if self.dialect == "postgresql" else None
                tx = SqlTransaction(conn, runner)
                yield tx
        if tx.published:
            self._committed()

    def _committed(self) -> None:
        # the data is committed: a listener's trouble must not turn the caller's success into an error
        for listener in self._listeners:
            try:
                listener()
            except Exception:
                log.exception("on-commit listener failed")

    def on_commit(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def ping(self) -> None:
        async with self.transaction(readonly=True) as tx:
            await tx.execute(select(text("1")))

    async def migrate(self, locations: dict[str, str]) -> None:
        await migrate.upgrade(self.engine, locations)

    async def close(self) -> None:
        await self.engine.dispose()
