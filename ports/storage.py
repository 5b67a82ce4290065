"""Storage: transactions, and the outbox that makes events as durable as the data they describe.

A module writes SQL with SQLAlchemy Core constructs built from its own ``tables.py`` and runs them
through :meth:`Transaction.execute`; the port does not bind that type so that ports stay free of
third-party imports. Everything done through one transaction -- rows, published events, audit
entries -- commits or rolls back together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

import msgspec

from core.events import Event

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
S = TypeVar("S")
_PREPARED: dict[int, Any] = {}


def prepared(statement: S) -> S:
    """Mark a statement built once (at import) and run often: the adapter may keep it compiled.

    Pass values as parameters (``bindparam`` or, for an insert, the row as ``params``), never
    built into the statement per call. A statement built per call must not be marked: it would be
    compiled per call."""
    _PREPARED[id(statement)] = statement  # held, so its id is never reused
    return statement


def is_prepared(statement: Any) -> bool:
    return id(statement) in _PREPARED


class Transaction(Protocol):
    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``: for the rare statement that must differ."""

    async def execute(self, statement: Any, params: Params = None) -> Any:
        """Run a SQLAlchemy Core statement; returns its result (rows are read before commit)."""

    async def publish(self, event: Event) -> None:
        """Write ``event`` to the outbox in this transaction; delivered only if it commits."""

    async def publish_all(self, events: Sequence[Event]) -> None:
        """:meth:`publish` each of ``events`` in order, with one statement (several entries at once)."""

    async def first_delivery(self, consumer: str, event_id: UUID) -> bool:
        """Record that ``consumer`` handles ``event_id`` here; False if it already did (skip it)."""

    async def first_deliveries(self, consumer: str, event_ids: Sequence[UUID]) -> set[UUID]:
        """:meth:`first_delivery` for many events in one statement: the ids not handled before."""

    async def fresh_deliveries(self, wanted: Sequence[tuple[str, UUID]]) -> set[tuple[str, UUID]]:
        """:meth:`first_delivery` for many (consumer, event id) pairs at once: those not handled before."""

    async def handled_before(self, wanted: Sequence[tuple[str, UUID]]) -> set[tuple[str, UUID]]:
        """Of ``wanted`` (consumer, event id) pairs, those recorded as handled before; records
        nothing. For a delivery whose transaction also marks its events delivered (the in-process
        relay's claim): once it commits the events are never offered again, so only handling
        recorded by another path (a consumer on its own, a retry) needs looking up."""


class StoredEvent(msgspec.Struct, frozen=True):
    seq: int
    event: Event


class FailedDelivery(msgspec.Struct, frozen=True):
    seq: int
    consumer: str
    event_type: str
    event_id: UUID
    attempts: int
    last_error: str
    next_attempt_at: datetime
    parked: bool


class HorizonRead(msgspec.Struct, frozen=True, kw_only=True):
    """One read of the outbox's upper end for a live reader's horizon (``host.outbox_horizon``)."""

    #: PostgreSQL: (xmin, xmax) of a snapshot taken before the rows were read; SQLite: None
    snapshot: tuple[int, int] | None = None
    #: asked with ``settled < 0``: the highest ``seq`` (0: none) and no rows; else -1
    top: int = -1
    #: with patients: (seq, patient) of the rows above ``settled``, in seq order
    rows: list[tuple[int, str | None]] = msgspec.field(default_factory=list)
    #: without: the same rows as runs of consecutive seqs (first, last), in seq order
    runs: list[tuple[int, int]] = msgspec.field(default_factory=list)
    #: rows read (at most ``scan``): fewer means the read reached the top
    read: int = 0


class OutboxBatch(Protocol):
    events: list[StoredEvent]
    #: partitions with pending events that another relay held at the claim (0 on one process):
    #: a short batch is then not the end of the queue, and events below it may still be pending
    busy: int
    #: whether a consumer may already have recorded some of these events in its inbox: where the
    #: consumer-by-consumer path (after a handler failed) commits apart from the batch's mark
    #: (SQLite), a crash between the two leaves them pending; where it runs inside the claim's own
    #: transaction (PostgreSQL) it commits with the mark or not at all, so pending events are new
    #: to every consumer and the relay need not read the inbox (one round trip less per claim)
    recorded_apart: bool

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        """A transaction that commits together with :meth:`delivered` called inside it, and only
        if the claim ends without error: handlers run here deliver a batch with one commit."""

    async def delivered(self, seqs: Sequence[int]) -> None:
        """Mark events dispatched; committed when the batch context exits without error."""


class Outbox(Protocol):
    def claim(self, limit: int, after: int = -1) -> AbstractAsyncContextManager[OutboxBatch]:
        """Undelivered events with ``seq > after`` in commit order, held so no other relay takes
        them. Several relays share the work by partition (``core.partitions``): a claim holds
        the partitions of its events, each partition's oldest pending events in order, and skips
        partitions another relay holds (counted in ``busy``), so a batch may come back short,
        even empty, while events remain. ``after`` lets a relay that knows every event up to it
        is delivered skip what lies below (a storage may keep dead index entries of delivered
        rows there). ``limit`` 0: the claim for due retries alone, no events: one relay at a
        time holds it."""

    async def record_failure(
        self, seq: int, consumer: str, error: str, next_attempt_at: datetime, park: bool
    ) -> None: ...

    async def clear_failure(self, seq: int, consumer: str) -> None: ...

    async def due_failures(self, now: datetime, limit: int) -> list[tuple[FailedDelivery, Event]]:
        """Failed, not parked deliveries whose retry time has come."""

    async def failures(self, parked_only: bool = True) -> list[FailedDelivery]: ...

    async def retry(self, seqs: Sequence[int] | None = None) -> int:
        """Un-park deliveries (all when ``seqs`` is None) so the relay re-delivers them now."""

    async def lag(self) -> tuple[int, float]:
        """(undelivered events, age in seconds of the oldest one)."""

    async def horizon_read(self, settled: int, scan: int, patients: bool) -> HorizonRead:
        """The rows above ``settled`` (at most ``scan``), for a live reader's horizon; with
        ``settled < 0`` only the snapshot and the top."""

    async def patient_events(self, patient: str, after: int, upto: int | None,
                             types: Collection[str], limit: int) -> list[tuple[int, str, bytes]]:
        """``patient``'s events of ``types`` with ``after < seq <= upto`` (no upper bound: None),
        at most ``limit``, in seq order: (seq, event type, encoded payload). The durable record a
        live stream resumes from."""


class Storage(Protocol):
    outbox: Outbox

    def transaction(self, *, readonly: bool = False) -> AbstractAsyncContextManager[Transaction]:
        """A unit of work; ``readonly`` lets SQLite run it beside a writer."""

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every commit that published events (wakes the relay)."""

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""

    async def migrate(self, locations: dict[str, str]) -> None:
        """Apply the migration branches given as label -> directory of revisions."""

    async def close(self) -> None: ...


StorageFactory = Callable[..., Awaitable[Storage]]
