"""Corrections and "entered in error": entries are never overwritten, only followed by versions.

The version being replaced is named by the caller (optimistic concurrency: 409 if someone else
got there first), becomes ``superseded``, and stays readable in the entry's history. Only the
facility that recorded an entry may correct it: it answers for its data.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.clock import utcnow
from core.errors import Conflict, Forbidden, NotFound
from core.events import EntryCorrected, EntryEnteredInError
from core.ids import new_id
from plugins.medcard.audit import Audit
from plugins.medcard.entries import (
    INSERT,
    Author,
    check,
    entries_as,
    kind_of,
    new_row,
    patient_pinfl,
    to_entry,
)
from plugins.medcard.entry_events import publish_critical, summary
from plugins.medcard.inputs import EntryIn
from plugins.medcard.schema import Entry
from plugins.medcard.tables import entries
from ports.storage import Transaction


async def _latest(tx: Transaction, patient_id: UUID, entry_id: UUID, kind: str | None = None) -> Any:
    stmt = select(entries).where(entries.c.entry_id == entry_id, entries.c.patient_id == patient_id)
    if kind is not None:
        stmt = stmt.where(entries.c.kind == kind)
    row = (await tx.execute(stmt.order_by(entries.c.version.desc()).limit(1))).first()
    if row is None:
        raise NotFound(f"no {kind or 'entry'} {entry_id} on the card of patient {patient_id}")
    return row


async def _replace(tx: Transaction, latest: Any, version: int, by: Author, row: dict[str, Any]) -> None:
    if latest.status == "entered_in_error":
        raise Conflict("this entry was marked entered in error; record a new entry instead")
    if latest.version != version:
        raise Conflict(f"version {version} is not current (the entry is at version {latest.version}); "
                       "reload it and try again")
    if latest.facility != by.facility:
        raise Forbidden(f"only {latest.facility}, which recorded this entry, may change it")
    done = await tx.execute(update(entries).where(entries.c.id == latest.id, entries.c.status == "current")
                            .values(status="superseded"))
    if done.rowcount != 1:
        raise Conflict("the entry changed meanwhile; reload it and try again")
    try:
        await tx.execute(INSERT, row)
    except IntegrityError:
        raise Conflict("the entry changed meanwhile; reload it and try again") from None


async def correct(tx: Transaction, patient_id: UUID, entry_id: UUID, data: EntryIn, *, version: int,
                  reason: str, by: Author, audit: Audit) -> Entry:
    now = utcnow()
    latest = await _latest(tx, patient_id, entry_id, kind_of(data))
    pinfl, found = await check(tx, patient_id, data, now, entry_id)
    row = new_row(patient_id, data, found, by, now, entry_id=entry_id, version=latest.version + 1,
                  late=latest.late, reason=reason)
    await _replace(tx, latest, version, by, row)
    await tx.publish(EntryCorrected(
        patient=pinfl, facility=by.facility, entry_id=entry_id, kind=row["kind"],
        entry_version=row["version"], reason=reason, author=by.id, encounter_id=data.encounter_id,
        performed_at=data.performed_at, summary=summary(row)))
    await publish_critical(tx, pinfl, row, by)
    await audit(tx, f"medcard.{row['kind']}/correct", patient=pinfl, object=str(entry_id), detail=reason)
    return to_entry(row)


async def mark_error(tx: Transaction, patient_id: UUID, entry_id: UUID, kind: str, *, version: int,
                     reason: str, by: Author, audit: Audit) -> Entry:
    now = utcnow()
    latest = await _latest(tx, patient_id, entry_id, kind)
    pinfl, _ = await patient_pinfl(tx, patient_id)
    row = {**latest._asdict(), "id": new_id(), "version": latest.version + 1, "status": "entered_in_error",
           "recorded_at": now, "author": by.id, "role": by.role, "reason": reason}
    await _replace(tx, latest, version, by, row)
    await tx.publish(EntryEnteredInError(patient=pinfl, facility=by.facility, entry_id=entry_id,
                                         kind=kind, entry_version=row["version"], reason=reason,
                                         author=by.id))
    await audit(tx, f"medcard.{kind}/entered_in_error", patient=pinfl, object=str(entry_id),
                detail=reason)
    return to_entry(row)


async def current(tx: Transaction, patient_id: UUID, entry_id: UUID, *, audit: Audit) -> Entry:
    """The entry as the card shows it now (its latest version, whatever its status)."""
    entry = to_entry(await _latest(tx, patient_id, entry_id))
    pinfl, _ = await patient_pinfl(tx, patient_id)
    await audit(tx, "medcard.entry/read", patient=pinfl, object=str(entry_id))
    return entry


async def history(tx: Transaction, patient_id: UUID, entry_id: UUID, *, audit: Audit) -> list[Entry]:
    """Every version of the entry, oldest first."""
    rows = (await tx.execute(select(entries).where(entries.c.entry_id == entry_id,
                                                   entries.c.patient_id == patient_id)
                             .order_by(entries.c.version))).all()
    if not rows:
        raise NotFound(f"no entry {entry_id} on the card of patient {patient_id}")
    pinfl, _ = await patient_pinfl(tx, patient_id)
    await audit(tx, "medcard.entry/history", patient=pinfl, object=str(entry_id))
    return entries_as(Entry, rows)
