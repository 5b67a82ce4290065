"""The outbox: committed events waiting for the relay, per-consumer failures and parked events.

Ordering: a patient's events are relayed in ``seq`` order, which is commit order for the writes of
one patient, by one relay at a time. On PostgreSQL several relays (in several processes) share the
work by partition without waiting for each other (:mod:`adapters.storage.outbox_claims`): a claim
try-locks the partitions of the oldest pending events in a transaction of its own and skips those
another relay holds. On SQLite one process relays, under an asyncio lock. Due retries (``claim(0)``)
take one lock of their own instead, which a second relay waits for. Delivered rows are kept; the
pending index covers only undelivered ones. On PostgreSQL each delivery leaves a dead entry at the
low end of that index until VACUUM removes it, and a scan from the start walks them all (hundreds
of pages after a few hundred thousand events): so the relay claims ``after`` a floor below which
it knows everything is delivered (:mod:`host.relay`), and the scan starts there.

While a task holds a PostgreSQL claim, its other units of work are savepoints of the claim's
transaction, on the claim's connection (:mod:`adapters.storage.claimed`): the lock holder never
waits for a second connection. Waiting for the retries' claim gives up after the storage's
``lock_wait`` (:class:`core.errors.Unavailable`): a relay that stalled or was cut off holding it
keeps it until the server ends its session (so do its partitions: other relays skip them).

A row this process cannot decode (a type it does not know, e.g. mid rolling upgrade) must not block
the rows behind it: it is set aside as a parked failure of the pseudo-consumer :data:`RELAY`, and
``retry`` puts it back in the queue.

The live readers' queries (the horizon, a patient's events) are in :mod:`adapters.storage.outbox_reads`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, any_, bindparam, delete, func, select, update

from adapters.storage import claimed, outbox_reads
from adapters.storage.outbox_claims import claim_rows
from adapters.storage.tables import delivery_failures, outbox
from adapters.storage.transaction import SqlTransaction
from core.clock import utcnow
from core.errors import Unavailable
from core.events import Event, decode_event
from core.partitions import partition_of
from ports.sql import ArrayLiteral
from ports.storage import FailedDelivery, HorizonRead, StoredEvent, prepared

_RELAY_LOCK_KEY = 0x5348_4946_4F  # "SHIFO": the due retries' claim (the partitions' locks differ)
RELAY = "shifo.relay"  # the consumer named on events no handler could even be offered
# SQLite's claim reads this (PostgreSQL's: adapters.storage.outbox_claims)
_PENDING = prepared(select(outbox.c.seq, outbox.c.event_type, outbox.c.payload)
                    .where(outbox.c.delivered_at.is_(None), outbox.c.seq > bindparam("after"))
                    .order_by(outbox.c.seq).limit(bindparam("n")))
_MARK = prepared(update(outbox)
                 .where(outbox.c.seq == any_(bindparam("seqs", type_=ArrayLiteral(BigInteger()))))
                 .values(delivered_at=bindparam("now")))
_F = delivery_failures.c
_FAILURES = (select(_F.seq, _F.consumer, _F.attempts, _F.last_error, _F.next_attempt_at, _F.parked,
                    outbox.c.event_type, outbox.c.event_id, outbox.c.payload)
             .join(outbox, outbox.c.seq == _F.seq).order_by(_F.seq, _F.consumer))
# every relay looks for due retries twice a second: built once, run as a prepared statement
_DUE = prepared(_FAILURES.where(_F.parked.is_(False), _F.next_attempt_at <= bindparam("now"))
                .limit(bindparam("n")))
#: The storage's unit of work (``SqlStorage.transaction``): every connection comes from there.
Units = Callable[..., AbstractAsyncContextManager[SqlTransaction]]


def _sqlstate(exc: BaseException) -> str | None:
    """The driver's SQLSTATE of ``exc`` or of the driver error SQLAlchemy wraps."""
    return getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)


async def _pending(tx: SqlTransaction, limit: int, after: int) -> Sequence[Any]:
    return (await tx.execute(_PENDING, {"n": limit, "after": after})).all() if limit else ()


def _mark_sql(seqs: Sequence[int]) -> str:
    """The claim's mark as one statement of literals (integers only), for the simple protocol that
    sends it with COMMIT; the time is the server's when it runs, after the handlers."""
    listed = ",".join(str(int(seq)) for seq in seqs)  # int(): nothing but digits reaches the text
    return ("UPDATE shifo_outbox SET delivered_at = clock_timestamp() "  # noqa: S608
            f"WHERE seq = ANY('{{{listed}}}'::bigint[])")


def _decoded(event_type: str, payload: bytes) -> Event | str:
    """The row's event, or why it cannot be decoded."""
    try:
        return decode_event(event_type, payload)
    except Exception as exc:
        return f"cannot decode {event_type}: {type(exc).__name__}: {exc}"[:4000]


class SqlOutboxBatch:
    def __init__(self, rows: Sequence[Any], claim: SqlTransaction | None, units: Units,
                 busy: int = 0) -> None:
        self.events: list[StoredEvent] = []
        self.busy = busy
        self._dead: list[tuple[int, str]] = []
        for seq, event_type, payload in rows:  # by place: cheaper than a Row's attributes
            got = _decoded(event_type, payload)
            if isinstance(got, Event):
                self.events.append(StoredEvent(seq=seq, event=got))
            else:
                self._dead.append((seq, got))
        self._tx = self._claim = claim  # PostgreSQL: the claim's transaction, which commits the batch
        # PostgreSQL: the per-consumer units are savepoints of the claim (adapters.storage.claimed)
        self.recorded_apart = claim is None
        self._units = units

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlTransaction]:
        """PostgreSQL: the claim's own transaction. SQLite: a write transaction of its own that
        :meth:`delivered`, called inside it, joins."""
        if self._tx is not None:
            yield self._tx
            return
        async with self._units() as tx:
            self._tx = tx
            try:
                yield tx
            finally:
                self._tx = None

    async def delivered(self, seqs: Sequence[int]) -> None:
        seqs = [*seqs, *(seq for seq, _ in self._dead)]
        if not seqs:
            return
        if self._tx is not None:
            await self._mark(self._tx, seqs)
        else:
            async with self._units() as tx:
                await self._mark(tx, seqs)

    async def _mark(self, tx: SqlTransaction, seqs: list[int]) -> None:
        now = utcnow()
        if tx is self._claim and tx.commits:  # PostgreSQL: sent with the claim's COMMIT, one round trip
            tx.with_commit = "; ".join(filter(None, (tx.with_commit, _mark_sql(seqs))))  # a second adds
        elif tx.dialect == "postgresql":  # one prepared statement for any number of rows
            await tx.execute(_MARK, {"seqs": seqs, "now": now})
        else:
            await tx.execute(update(outbox).where(outbox.c.seq.in_(seqs)).values(delivered_at=now))
        if self._dead:
            await tx.execute(delivery_failures.insert(), [
                {"seq": seq, "consumer": RELAY, "attempts": 1, "last_error": error,
                 "next_attempt_at": now, "parked": True} for seq, error in self._dead])


class SqlOutbox:
    def __init__(self, dialect: str, units: Units) -> None:
        self.dialect = dialect
        self._units = units
        self._local = asyncio.Lock()

    @asynccontextmanager
    async def claim(self, limit: int, after: int = -1) -> AsyncIterator[SqlOutboxBatch]:
        """Up to ``limit`` pending events above ``after`` of partitions no other relay holds
        (0: the due retries' claim alone)."""
        if self.dialect == "postgresql":
            # the batch's commit need not wait for the disk: if a crash loses it, its events
            # are still pending and are delivered again (handlers are idempotent by event id)
            # while it is held, this task's other units are savepoints of it (adapters.storage.claimed)
            async with contextlib.AsyncExitStack() as stack:
                try:  # the retries' claim (limit 0) waits for another relay's retries to finish
                    tx = await stack.enter_async_context(
                        self._units(durable=False, lock=None if limit else _RELAY_LOCK_KEY))
                except Exception as exc:
                    if _sqlstate(exc) == "55P03":  # lock_timeout: a relay stalled or died holding it
                        raise Unavailable("another process's relay has held the outbox claim for "
                                          "too long (a stalled or lost process)") from exc
                    raise
                token = claimed.HOLDER.set((asyncio.current_task(), tx))
                try:
                    rows, busy = await claim_rows(tx, limit, after) if limit else ((), 0)
                    yield SqlOutboxBatch(rows, tx, self._units, busy)
                finally:
                    claimed.HOLDER.reset(token)
            return
        async with self._local:
            async with self._units(readonly=True) as tx:  # must not queue behind writers
                rows = await _pending(tx, limit, after)
            yield SqlOutboxBatch(rows, None, self._units)

    async def record_failure(
        self, seq: int, consumer: str, error: str, next_attempt_at: datetime, park: bool
    ) -> None:
        key = (delivery_failures.c.seq == seq) & (delivery_failures.c.consumer == consumer)
        async with self._units() as tx:
            changed = await tx.execute(
                update(delivery_failures)
                .where(key)
                .values(attempts=delivery_failures.c.attempts + 1, last_error=error[:4000],
                        next_attempt_at=next_attempt_at, parked=park)
            )
            if changed.rowcount == 0:
                await tx.execute(
                    delivery_failures.insert().values(
                        seq=seq, consumer=consumer, attempts=1, last_error=error[:4000],
                        next_attempt_at=next_attempt_at, parked=park)
                )

    async def clear_failure(self, seq: int, consumer: str) -> None:
        async with self._units() as tx:
            await tx.execute(
                delete(delivery_failures).where(
                    (delivery_failures.c.seq == seq) & (delivery_failures.c.consumer == consumer))
            )

    @staticmethod
    def _failed(row: Any) -> FailedDelivery:
        return FailedDelivery(seq=row.seq, consumer=row.consumer, event_type=row.event_type,
                              event_id=row.event_id, attempts=row.attempts, last_error=row.last_error,
                              next_attempt_at=row.next_attempt_at, parked=row.parked)

    async def due_failures(self, now: datetime, limit: int) -> list[tuple[FailedDelivery, Event]]:
        async with self._units(readonly=True) as tx:
            rows = (await tx.execute(_DUE, {"now": now, "n": limit})).all()
        due = []
        for row in rows:
            got = _decoded(row.event_type, row.payload)
            if isinstance(got, Event):
                due.append((self._failed(row), got))
            else:  # the type vanished since: park it rather than fail every pass
                await self.record_failure(row.seq, row.consumer, got, now, park=True)
        return due

    async def failures(self, parked_only: bool = True) -> list[FailedDelivery]:
        stmt = _FAILURES
        if parked_only:
            stmt = stmt.where(delivery_failures.c.parked.is_(True))
        async with self._units(readonly=True) as tx:
            return [self._failed(r) for r in (await tx.execute(stmt)).all()]

    async def retry(self, seqs: Sequence[int] | None = None) -> int:
        f = delivery_failures.c
        parked: Any = f.parked.is_(True)
        if seqs is not None:
            parked = parked & f.seq.in_(list(seqs))
        o = outbox.c
        async with self._units() as tx:
            # undecodable rows go back in the queue, in their partition (rows older than h0007
            # had none): they are few, and set aside only until their type is deployed
            undecoded = (await tx.execute(select(o.seq, o.patient, o.event_id).join(
                delivery_failures, f.seq == o.seq).where(parked, f.consumer == RELAY))).all()
            if undecoded:
                await tx.execute(update(outbox).where(o.seq == bindparam("s")).values(
                    delivered_at=None, partition=bindparam("p")),
                    [{"s": seq, "p": partition_of(patient, event)} for seq, patient, event in undecoded])
            await tx.execute(delete(delivery_failures).where(parked, f.consumer == RELAY))
            result = await tx.execute(update(delivery_failures).where(parked, f.consumer != RELAY)
                                        .values(parked=False, attempts=0, next_attempt_at=utcnow()))
        return int(result.rowcount) + len(undecoded)

    async def lag(self) -> tuple[int, float]:
        stmt = select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.delivered_at.is_(None))
        async with self._units(readonly=True) as tx:
            count, oldest = (await tx.execute(stmt)).one()
        if oldest is None:
            return 0, 0.0
        if isinstance(oldest, str):
            oldest = datetime.fromisoformat(oldest)
        age = (utcnow().replace(tzinfo=None) - oldest.replace(tzinfo=None)).total_seconds()
        return int(count), max(age, 0.0)

    async def horizon_read(self, settled: int, scan: int, patients: bool) -> HorizonRead:
        return await outbox_reads.horizon_read(self._units, settled, scan, patients)

    async def patient_events(self, patient: str, after: int, upto: int | None,
                             types: Collection[str], limit: int) -> list[tuple[int, str, bytes]]:
        return await outbox_reads.patient_events(self._units, patient, after, upto, types, limit)
