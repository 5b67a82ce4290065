"""What the polyclinic does with the card's events: attach entries to the visit, close orders.

An entry belongs to the visit whose id is its ``encounter_id``; an entry without one belongs to
the patient's open visit at the facility where it was recorded. A closed visit takes no new
entries, but the mirror of an entry it already holds follows the card's corrections.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update

from core.events import EntryCorrected, EntryEnteredInError, EntryRecorded, Event
from host.pluginapi import EventHandler
from plugins.polyclinic import referrals
from plugins.polyclinic.tables import visit_entries, visits
from ports.storage import Transaction

ENTRY_EVENTS = (EntryRecorded.event_type(), EntryCorrected.event_type())


async def _open_visit(tx: Transaction, event: EntryRecorded | EntryCorrected) -> UUID | None:
    """The visit an entry belongs to: the one it names, else the visit at its facility, open when
    the entry was recorded. Judged by the entry's own time, not by when the relay delivers it, so
    an entry recorded just before the visit closed still lands on it."""
    at = event.occurred_at
    open_then = (visits.c.opened_at <= at) & (visits.c.closed_at.is_(None) | (visits.c.closed_at >= at))
    if event.encounter_id is not None:
        where: Any = (visits.c.id == event.encounter_id) & open_then
    else:
        where = (visits.c.pinfl == event.patient) & (visits.c.facility == event.facility) & open_then
    row = (await tx.execute(select(visits.c.id).where(where).order_by(visits.c.opened_at.desc())
                            .limit(1))).first()
    return None if row is None else row.id


async def on_entry(event: Event, tx: Transaction) -> None:
    assert isinstance(event, EntryRecorded | EntryCorrected)
    held = {r.visit_id for r in await tx.execute(
        select(visit_entries.c.visit_id).where(visit_entries.c.entry_id == event.entry_id))}
    target = await _open_visit(tx, event)
    for visit_id in held | ({target} if target else set()):
        await tx.execute(delete(visit_entries).where(visit_entries.c.visit_id == visit_id,
                                                     visit_entries.c.entry_id == event.entry_id))
        await tx.execute(visit_entries.insert().values(
            visit_id=visit_id, entry_id=event.entry_id, kind=event.kind, performed_at=event.performed_at,
            status="current", summary=dict(event.summary)))
    if event.patient:
        await referrals.fulfil(tx, event.patient, event.entry_id, event.kind, dict(event.summary))


async def on_error(event: Event, tx: Transaction) -> None:
    assert isinstance(event, EntryEnteredInError)
    await tx.execute(update(visit_entries).where(visit_entries.c.entry_id == event.entry_id)
                     .values(status="entered_in_error"))


HANDLERS = [
    EventHandler(consumer="polyclinic.visit_entries", event_types=ENTRY_EVENTS, handle=on_entry),
    EventHandler(consumer="polyclinic.visit_entry_errors",
                 event_types=(EntryEnteredInError.event_type(),), handle=on_error),
]
