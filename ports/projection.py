"""Mirrors of another module's records that keep the newest version, whatever the delivery order.

Events reach a consumer at least once, and a retried delivery arrives after newer ones, so a mirror
row remembers the version its content came from and takes content only from a newer one. A
record's versions are *content* (what it says: a card entry recorded or corrected, a prescription
issued) or a *mark* (what became of it: entered in error, cancelled), which carries no content and
ends its history. A mark may arrive before the content it marks, and old content after the mark,
so the newest mark of each record is kept in a table of its own and laid over any content that
comes. One record may be mirrored under several owners (the visits or stays it belongs to); its
rows always agree, and a late event adds its own owner with the newest state, never its own.
The result depends only on which events arrived, not on their order or how often each came.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import Table, bindparam, select, update

from core.events import (
    EntryCorrected,
    EntryEnteredInError,
    EntryRecorded,
    Event,
    PrescriptionCancelled,
    PrescriptionIssued,
)
from ports.sql import DIALECTS, in_list
from ports.storage import Transaction, prepared

#: the owners of new entries that name none, by entry id / the owner of one entry event
ManyOwners = Callable[[Transaction, list[EntryRecorded]], Awaitable[dict[UUID, UUID]]]
OneOwner = Callable[[Transaction, EntryRecorded | EntryCorrected], Awaitable[UUID | None]]
_COLUMNS = ("version", "kind", "performed_at", "status", "summary")


class Seen(msgspec.Struct, frozen=True, kw_only=True):
    """One version of one record, as an event tells it; ``performed_at`` None makes it a mark."""

    record_id: UUID
    version: int
    kind: str = ""
    performed_at: datetime | None = None
    summary: dict[str, Any] = msgspec.field(default_factory=dict)
    status: str = "current"
    patch: dict[str, Any] = msgspec.field(default_factory=dict)  # a mark's change to the summary

    @property
    def is_mark(self) -> bool:
        return self.performed_at is None


def card_entry(event: Event) -> Seen | None:
    """The version of a card entry that an entry event tells (recorded is version 1)."""
    match event:
        case EntryRecorded() | EntryCorrected():
            version = event.entry_version if isinstance(event, EntryCorrected) else 1
            return Seen(record_id=event.entry_id, version=version, kind=event.kind,
                        performed_at=event.performed_at, summary=dict(event.summary))
        case EntryEnteredInError():
            return Seen(record_id=event.entry_id, version=event.entry_version, status="entered_in_error")
    return None


def prescription(event: Event) -> Seen | None:
    """A prescription as a card shows it: issued is version 1; a cancellation marks it (version 2)
    and stays on the card with its reason."""
    match event:
        case PrescriptionIssued():
            return Seen(record_id=event.prescription_id, version=1, kind="prescription",
                        performed_at=event.occurred_at, summary={**event.card_summary(), "status": "issued"})
        case PrescriptionCancelled():
            return Seen(record_id=event.prescription_id, version=2,
                        patch={"status": "cancelled", "cancel_reason": event.reason})
    return None


def told(event: Event) -> Seen:
    """The version a card entry or prescription event tells; TypeError for another event."""
    seen = card_entry(event) or prescription(event)
    if seen is None:
        raise TypeError(f"{event.event_type()} tells no version of a card entry or prescription")
    return seen


class _Row(msgspec.Struct, kw_only=True):
    version: int
    kind: str
    performed_at: datetime
    status: str
    summary: dict[str, Any]


class Mirror:
    """Records mirrored under owners: ``rows`` has the owner column, ``entry_id`` (the record) and
    ``version``, ``kind``, ``performed_at``, ``status``, ``summary``; ``marks`` has ``record_id``,
    ``version``, ``status``, ``patch``. Module code decides the owner an event names (its target)."""

    def __init__(self, rows: Table, owner: str, marks: Table) -> None:
        c, m = rows.c, marks.c
        self._owner = owner
        self._held = {d: prepared(select(c[owner], c.entry_id, *(c[n] for n in _COLUMNS))
                                  .where(in_list(c.entry_id, "ids", d))) for d in DIALECTS}
        self._marked = {d: prepared(select(marks).where(in_list(m.record_id, "ids", d))) for d in DIALECTS}
        self._insert, self._mark = prepared(rows.insert()), prepared(marks.insert())
        self._update = prepared(update(rows).where(c[owner] == bindparam("b_owner"),
                                                   c.entry_id == bindparam("b_record"))
                                .values({n: bindparam(f"b_{n}", type_=c[n].type) for n in _COLUMNS}))
        self._remark = prepared(update(marks).where(m.record_id == bindparam("b_record")).values(
            {n: bindparam(f"b_{n}", type_=m[n].type) for n in ("version", "status", "patch")}))

    async def apply(self, tx: Transaction, seen: Sequence[tuple[Seen, UUID | None]]) -> None:
        """Apply versions in order, each with the owner its event names (None: none of its own)."""
        # first content whose event names no owner holds nothing yet, so it needs no lookup: the
        # common case of an entry of a patient with no visit or stay here
        wanted = sorted({s.record_id for s, owner in seen if s.is_mark or owner or s.version > 1})
        if not wanted:
            return
        held: dict[UUID, dict[UUID, _Row]] = {i: {} for i in wanted}
        for r in await tx.execute(self._held[tx.dialect], {"ids": wanted}):
            held[r.entry_id][getattr(r, self._owner)] = _Row(**{n: getattr(r, n) for n in _COLUMNS})
        marks = {r.record_id: r for r in await tx.execute(self._marked[tx.dialect], {"ids": wanted})}
        for s, owner in seen:
            if s.record_id not in held:
                continue
            if s.is_mark:
                if await self._new_mark(tx, s, marks):
                    await self._lay(tx, s, held[s.record_id])
            else:
                await self._content(tx, s, owner, held[s.record_id], marks.get(s.record_id))

    async def entries(self, tx: Transaction, events: Sequence[Event], many: ManyOwners,
                      one: OneOwner) -> None:
        """Card entry events of a batch, each with the owner it belongs to: new entries that name
        no owner (``encounter_id``) by ``many`` in one query, the others by ``one``."""
        plain = [e for e in events if isinstance(e, EntryRecorded) and e.encounter_id is None and e.patient]
        owners, batched = await many(tx, plain), {id(e) for e in plain}
        seen = []
        for event in events:
            assert isinstance(event, EntryRecorded | EntryCorrected)
            owner = owners.get(event.entry_id) if id(event) in batched else await one(tx, event)
            seen.append((told(event), owner))
        await self.apply(tx, seen)

    async def _new_mark(self, tx: Transaction, s: Seen, marks: dict[UUID, Any]) -> bool:
        known = marks.get(s.record_id)
        if known is not None and known.version >= s.version:
            return False
        values = {"version": s.version, "status": s.status, "patch": s.patch}
        if known is None:
            await tx.execute(self._mark, {"record_id": s.record_id, **values})
        else:
            await tx.execute(self._remark, {"b_record": s.record_id, **_bound(values)})
        marks[s.record_id] = s
        return True

    async def _lay(self, tx: Transaction, mark: Seen, rows: dict[UUID, _Row]) -> None:
        """The mark over every row whose content is older than it."""
        for owner, row in rows.items():
            if row.version < mark.version:
                marked = _Row(version=row.version, kind=row.kind, performed_at=row.performed_at,
                              status=mark.status, summary={**row.summary, **mark.patch})
                await self._write(tx, record=mark.record_id, owner=owner, row=marked, rows=rows)

    async def _content(self, tx: Transaction, s: Seen, owner: UUID | None, rows: dict[UUID, _Row],
                       mark: Any) -> None:
        newest = max(rows.values(), key=lambda r: r.version, default=None)
        if newest is None or s.version > newest.version:
            assert s.performed_at is not None
            status, summary = "current", s.summary
            if mark is not None and mark.version > s.version:
                status, summary = mark.status, {**s.summary, **mark.patch}
            newest = _Row(version=s.version, kind=s.kind, performed_at=s.performed_at,
                          status=status, summary=summary)
        for each in {*rows, *([owner] if owner else [])}:
            await self._write(tx, record=s.record_id, owner=each, row=newest, rows=rows)

    async def _write(self, tx: Transaction, *, record: UUID, owner: UUID, row: _Row,
                     rows: dict[UUID, _Row]) -> None:
        old = rows.get(owner)
        if old == row:
            return
        values = {n: getattr(row, n) for n in _COLUMNS}
        if old is None:
            await tx.execute(self._insert, {self._owner: owner, "entry_id": record, **values})
        else:
            await tx.execute(self._update, {"b_owner": owner, "b_record": record, **_bound(values)})
        rows[owner] = row


def _bound(values: dict[str, Any]) -> dict[str, Any]:
    """Values for an UPDATE's SET parameters (named apart from the columns, as SQLAlchemy wants)."""
    return {f"b_{k}": v for k, v in values.items()}
