"""One unit of work on one connection: statements, published events and delivery records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.storage.plans import Runner
from adapters.storage.tables import inbox, outbox
from core.clock import utcnow
from core.events import Event, encode_event
from core.partitions import partition_of
from ports.sql import ArrayLiteral
from ports.storage import Params, is_prepared, prepared

_OUTBOX_INSERT = prepared(insert(outbox))


def _fresh_statement() -> Any:
    """PostgreSQL: record any number of (consumer, event id) pairs (two arrays, so it stays one
    prepared statement) and answer the pairs recorded before: usually none, so the relay's hot
    path decodes no row."""
    wanted = select(func.unnest(bindparam("consumers", type_=ArrayLiteral(inbox.c.consumer.type)))
                    .label("consumer"),
                    func.unnest(bindparam("events", type_=ArrayLiteral(inbox.c.event_id.type)))
                    .label("event_id")).cte("wanted")
    recorded = (postgresql.insert(inbox)
                .from_select(["consumer", "event_id", "processed_at"], select(
                    wanted.c.consumer, wanted.c.event_id, bindparam("now", type_=inbox.c.processed_at.type)))
                .on_conflict_do_nothing()
                .returning(inbox.c.consumer, inbox.c.event_id)).cte("recorded")
    return select(wanted.c.consumer, wanted.c.event_id).where(~exists().where(
        recorded.c.consumer == wanted.c.consumer, recorded.c.event_id == wanted.c.event_id))


_FRESH = prepared(_fresh_statement())


def _before_statement() -> Any:
    """PostgreSQL: which of any number of (consumer, event id) pairs are recorded (one prepared
    statement, two arrays), reading only the inbox's primary key."""
    wanted = select(func.unnest(bindparam("consumers", type_=ArrayLiteral(inbox.c.consumer.type)))
                    .label("consumer"),
                    func.unnest(bindparam("events", type_=ArrayLiteral(inbox.c.event_id.type)))
                    .label("event_id")).cte("wanted")
    return select(inbox.c.consumer, inbox.c.event_id).join(
        wanted, and_(inbox.c.consumer == wanted.c.consumer, inbox.c.event_id == wanted.c.event_id))


_BEFORE = prepared(_before_statement())


def _same_keys(rows: list[Any]) -> bool:
    """Every row a dict of the first's keys (a plan binds by name; SQLAlchemy runs anything else)."""
    first = rows[0].keys()
    return all(type(r) is dict and r.keys() == first for r in rows)


def _outbox_row(event: Event, now: Any) -> dict[str, Any]:
    return {"event_id": event.id, "event_type": event.event_type(), "patient": event.patient,
            "partition": partition_of(event.patient, event.id), "facility": event.facility,
            "payload": encode_event(event), "created_at": now}


class SqlTransaction:
    def __init__(self, conn: AsyncConnection, runner: Runner | None = None) -> None:
        self.conn = conn
        self.published = 0
        self.runner = runner  # PostgreSQL: runs prepared statements on asyncpg directly
        self.dialect: str = conn.dialect.name  # asked by most statements' callers: looked up once
        # PostgreSQL, a held connection's unit that sends COMMIT itself (``commits``): a statement
        # of literals sent with that COMMIT, in its round trip
        self.commits = False
        self.with_commit: str | None = None

    async def execute(self, statement: Any, params: Params = None) -> Any:
        runner = self.runner
        if runner is not None and is_prepared(statement):
            if params is None or type(params) is dict:
                values = params or {}
                plan = runner.plan(statement, values)
                if plan is not None:
                    return await runner.run(plan, values)
            elif type(params) is list and params and type(params[0]) is dict:  # an executemany
                plan = runner.plan(statement, params[0])
                if plan is not None and plan.meta is None and _same_keys(params):
                    return await runner.run_many(plan, params)
        return await self.conn.execute(statement, params)

    async def publish(self, event: Event) -> None:
        await self.execute(_OUTBOX_INSERT, _outbox_row(event, utcnow()))
        self.published += 1

    async def publish_all(self, events: Sequence[Event]) -> None:
        if not events:
            return
        now = utcnow()
        rows = [_outbox_row(e, now) for e in events]
        await self.execute(_OUTBOX_INSERT, rows[0] if len(rows) == 1 else rows)  # a list: one executemany
        self.published += len(rows)

    async def first_delivery(self, consumer: str, event_id: UUID) -> bool:
        return bool(await self.fresh_deliveries([(consumer, event_id)]))

    async def first_deliveries(self, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
        return {e for _, e in await self.fresh_deliveries([(consumer, e) for e in event_ids])}

    async def fresh_deliveries(self, wanted: Sequence[tuple[str, UUID]]) -> set[tuple[str, UUID]]:
        if not wanted:
            return set()
        now = utcnow()
        if self.dialect == "postgresql":
            before = (await self.execute(_FRESH, {"consumers": [c for c, _ in wanted],
                                                  "events": [e for _, e in wanted], "now": now})).all()
            return set(wanted).difference((c, e) for c, e in before) if before else set(wanted)
        rows = [{"consumer": c, "event_id": e, "processed_at": now} for c, e in wanted]
        result = await self.conn.execute(sqlite.insert(inbox).values(rows).on_conflict_do_nothing()
                                         .returning(inbox.c.consumer, inbox.c.event_id))
        return {(c, e) for c, e in result.all()}

    async def handled_before(self, wanted: Sequence[tuple[str, UUID]]) -> set[tuple[str, UUID]]:
        if not wanted:
            return set()
        if self.dialect == "postgresql":
            found = await self.execute(_BEFORE, {"consumers": [c for c, _ in wanted],
                                                 "events": [e for _, e in wanted]})
            return {(c, e) for c, e in found.all()}
        by_consumer: dict[str, list[UUID]] = {}
        for c, e in wanted:
            by_consumer.setdefault(c, []).append(e)
        found = await self.conn.execute(select(inbox.c.consumer, inbox.c.event_id).where(or_(*(
            and_(inbox.c.consumer == c, inbox.c.event_id.in_(ids)) for c, ids in by_consumer.items()))))
        return {(c, e) for c, e in found.all()}
