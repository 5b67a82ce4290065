"""The patient's timeline: one chronological list, newest first, keyset-paginated.

The key is (time, row id): an entry's ``performed_at`` and its version row's id, or the moment a
prescription, visit or stay began and its card row's id. A page is the newest ``limit`` keys below
the cursor from both tables, merged; because every key is fixed once written, a page boundary never
moves: items added meanwhile appear on their own place in the order and never repeat or push others
off a page. ``page`` reads the entries alone; ``merged`` adds the other modules' records.
"""

from __future__ import annotations

import base64
import functools
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import and_, bindparam, or_, select

from core.errors import ValidationFailed
from plugins.medcard import patients as registry
from plugins.medcard.audit import Audit
from plugins.medcard.entries import entries_as
from plugins.medcard.module_records import FIRST_STATUS
from plugins.medcard.schema import Entry, EntryPage, RecordItem, TimelineEntry, TimelinePage
from plugins.medcard.tables import entries, module_records
from ports.storage import Transaction, prepared

RECORD_KINDS = tuple(FIRST_STATUS)  # prescription, outpatient_visit, inpatient_stay
Key = tuple[datetime, UUID]
_RECORD_COLUMNS = ("id", "record_id", "source", "kind", "status", "summary", "occurred_at", "updated_at")


def _cursor(performed_at: datetime, row_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{performed_at.isoformat()}|{row_id}".encode()).decode()


def _uncursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        at, _, rid = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, UUID(rid)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("the page cursor is not valid; start again without it") from None


def _bounded(stmt: Any, at: Any, rid: Any, since: bool, until: bool, key: bool) -> Any:
    if since:
        stmt = stmt.where(at >= bindparam("since", type_=at.type))
    if until:
        stmt = stmt.where(at < bindparam("until", type_=at.type))
    if key:
        key_at = bindparam("key_at", type_=at.type)
        stmt = stmt.where(or_(at < key_at, and_(at == key_at, rid < bindparam("key_id", type_=rid.type))))
    return prepared(stmt.order_by(at.desc(), rid.desc()).limit(bindparam("n")))


# Built once per combination of filters, values bound: a page is the card's hottest read.
@functools.cache
def _entries_query(history: bool, kind: bool, since: bool, until: bool, key: bool) -> Any:
    stmt = select(entries).where(entries.c.patient_id == bindparam("patient_id"))
    if not history:
        stmt = stmt.where(entries.c.status == "current")
    if kind:
        stmt = stmt.where(entries.c.kind == bindparam("kind"))
    return _bounded(stmt, entries.c.performed_at, entries.c.id, since, until, key)


@functools.cache
def _records_query(kind: bool, since: bool, until: bool, key: bool) -> Any:
    stmt = select(module_records).where(module_records.c.pinfl == bindparam("pinfl"))
    if kind:
        stmt = stmt.where(module_records.c.kind == bindparam("kind"))
    return _bounded(stmt, module_records.c.occurred_at, module_records.c.id, since, until, key)


def _values(n: int, kind: str | None, since: datetime | None, until: datetime | None,
            key: Key | None) -> dict[str, Any]:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(f"{name} needs a timezone")
    given = {"n": n, "kind": kind or None, "since": since, "until": until,
             "key_at": key and key[0], "key_id": key and key[1]}
    return {k: v for k, v in given.items() if v is not None}


async def _entries(tx: Transaction, patient_id: UUID, n: int, kind: str | None, since: datetime | None,
                   until: datetime | None, history: bool, key: Key | None,
                   cls: type[Entry] = Entry) -> list[Any]:
    values = _values(n, kind, since, until, key)
    stmt = _entries_query(history, "kind" in values, "since" in values, "until" in values, key is not None)
    rows = (await tx.execute(stmt, {"patient_id": patient_id, **values})).all()
    return entries_as(cls, rows)


async def _records(tx: Transaction, pinfl: str, n: int, kind: str | None, since: datetime | None,
                   until: datetime | None, key: Key | None) -> list[RecordItem]:
    values = _values(n, kind, since, until, key)
    stmt = _records_query("kind" in values, "since" in values, "until" in values, key is not None)
    rows = (await tx.execute(stmt, {"pinfl": pinfl, **values})).all()
    if not rows:
        return []
    fields = rows[0]._fields  # places looked up once, as entries_as does
    i, rec, src, k, st, sm, at, up = (fields.index(name) for name in _RECORD_COLUMNS)
    return [RecordItem(id=r[i], record_id=r[rec], source=r[src], kind=r[k], status=r[st], summary=r[sm],
                       performed_at=r[at], updated_at=r[up]) for r in rows]


def _key(item: Entry | RecordItem) -> Key:
    return (item.performed_at, item.version_id if isinstance(item, Entry) else item.id)


async def page(tx: Transaction, patient_id: UUID, *, limit: int, cursor: str | None = None,
               kind: str | None = None, since: datetime | None = None, until: datetime | None = None,
               history: bool = False, audit: Audit) -> EntryPage:
    """The card's own entries: current versions only, unless ``history`` asks for every version."""
    key = _uncursor(cursor) if cursor else None
    patient = await registry.get(tx, patient_id)
    rows = await _entries(tx, patient_id, limit + 1, kind, since, until, history, key)
    items = rows[:limit]
    nxt = _cursor(*_key(items[-1])) if len(rows) > limit else None
    await audit(tx, "medcard.entry/read", patient=patient.pinfl, object=str(patient_id),
                detail=f"timeline: {len(items)} entries")
    return EntryPage(items=items, next=nxt)


async def merged(tx: Transaction, patient_id: UUID, *, limit: int, cursor: str | None = None,
                 kind: str | None = None, since: datetime | None = None, until: datetime | None = None,
                 history: bool = False, audit: Audit) -> TimelinePage:
    """Entries and the other modules' records in one order; ``kind`` is an entry kind or one of
    ``RECORD_KINDS``; ``history`` concerns entries (records have no versions on the card)."""
    key = _uncursor(cursor) if cursor else None
    patient = await registry.get(tx, patient_id)
    found: list[TimelineEntry | RecordItem] = []
    if kind not in RECORD_KINDS:
        found.extend(await _entries(tx, patient_id, limit + 1, kind, since, until, history, key,
                                    TimelineEntry))
    more = await _records(tx, patient.pinfl, limit + 1, kind, since, until, key) \
        if kind is None or kind in RECORD_KINDS else []
    if more:  # each list comes newest first by the same key: only records need a merge
        found.extend(more)
        found.sort(key=_key, reverse=True)
    items = found[:limit]
    nxt = _cursor(*_key(items[-1])) if len(found) > limit else None
    records = sum(isinstance(i, RecordItem) for i in items) if more else 0
    await audit(tx, "medcard.entry/read", patient=patient.pinfl, object=str(patient_id),
                detail=f"timeline: {len(items) - records} entries, {records} module records")
    return TimelinePage(items=items, next=nxt)
