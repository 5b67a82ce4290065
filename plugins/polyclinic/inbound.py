"""What the polyclinic does with the card's events: attach entries to the visit, close orders.

An entry belongs to the visit whose id is its ``encounter_id``; an entry without one belongs to
the patient's open visit at the facility where it was recorded. A closed visit takes no new
entries, but the mirror of an entry it already holds follows the card's corrections. Each copy
keeps the newest version delivered, in whatever order the versions come (:mod:`ports.projection`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, select

from core.events import EntryCorrected, EntryEnteredInError, EntryRecorded, Event
from host.pluginapi import EventHandler
from plugins.polyclinic import referrals
from plugins.polyclinic.tables import entry_marks, visit_entries, visits
from ports.projection import Mirror, told
from ports.sql import in_list
from ports.storage import Transaction, prepared

ENTRY_EVENTS = (EntryRecorded.event_type(), EntryCorrected.event_type())
#: the visits' copies of card entries and prescriptions, newest version wins (ports.projection)
MIRROR = Mirror(visit_entries, "visit_id", entry_marks)


def _visit_open_at(where: Any) -> Any:
    at = bindparam("at", type_=visits.c.opened_at.type)
    open_then = (visits.c.opened_at <= at) & (visits.c.closed_at.is_(None) | (visits.c.closed_at >= at))
    return prepared(select(visits.c.id).where(where & open_then).order_by(visits.c.opened_at.desc()).limit(1))


# Built once: the relay runs these for every entry written anywhere.
_NAMED_VISIT = _visit_open_at(visits.c.id == bindparam("encounter_id"))
_OPEN_VISIT = _visit_open_at((visits.c.pinfl == bindparam("pinfl"))
                             & (visits.c.facility == bindparam("facility")))


async def _open_visit(tx: Transaction, event: EntryRecorded | EntryCorrected) -> UUID | None:
    """The visit an entry belongs to: the one it names, else the visit at its facility, open when
    the entry was recorded. Judged by the entry's own time, not by when the relay delivers it, so
    an entry recorded just before the visit closed still lands on it."""
    if event.encounter_id is not None:
        found = await tx.execute(_NAMED_VISIT, {"encounter_id": event.encounter_id, "at": event.occurred_at})
    else:
        found = await tx.execute(_OPEN_VISIT, {"pinfl": event.patient, "facility": event.facility,
                                               "at": event.occurred_at})
    row = found.first()
    return None if row is None else row.id


_OPEN_VISITS = {  # built once per dialect, kept prepared: the relay runs it for every batch
    dialect: prepared(
        select(visits.c.id, visits.c.pinfl, visits.c.facility, visits.c.opened_at, visits.c.closed_at)
        .where(in_list(visits.c.pinfl, "pinfls", dialect),
               visits.c.opened_at <= bindparam("last"),
               visits.c.closed_at.is_(None) | (visits.c.closed_at >= bindparam("first")))
        .order_by(visits.c.opened_at.desc()))
    for dialect in ("postgresql", "sqlite")
}


async def _open_visits(tx: Transaction, events: list[EntryRecorded]) -> dict[UUID, UUID]:
    """:func:`_open_visit` for many entries that name no visit, in one query: entry id -> visit."""
    if not events:
        return {}
    first, last = min(e.occurred_at for e in events), max(e.occurred_at for e in events)
    rows = (await tx.execute(_OPEN_VISITS[tx.dialect], {
        "pinfls": sorted({e.patient for e in events}), "first": first, "last": last})).all()
    found = {}
    for e in events:
        at = e.occurred_at
        visit = next((r.id for r in rows if r.pinfl == e.patient and r.facility == e.facility
                      and r.opened_at <= at and (r.closed_at is None or r.closed_at >= at)), None)
        if visit is not None:
            found[e.entry_id] = visit
    return found


async def on_entries(events: Sequence[Event], tx: Transaction) -> None:
    """:func:`on_entry` for a batch: new entries that name no visit find theirs in one query."""
    await MIRROR.entries(tx, events, _open_visits, _open_visit)
    for event in events:
        assert isinstance(event, EntryRecorded | EntryCorrected)
        if event.patient:
            await referrals.fulfil(tx, event.patient, event.entry_id, event.kind, dict(event.summary))


async def on_entry(event: Event, tx: Transaction) -> None:
    """An entry's version joins its visit and every visit already holding the entry, unless a newer
    version is there already (a retried delivery arrives after newer ones); a result closes an order."""
    await on_entries([event], tx)


async def on_error(event: Event, tx: Transaction) -> None:
    """Entered in error: a mark over the entry's older versions, kept even if none arrived yet."""
    assert isinstance(event, EntryEnteredInError)
    await MIRROR.apply(tx, [(told(event), None)])


HANDLERS = [
    EventHandler(consumer="polyclinic.visit_entries", event_types=ENTRY_EVENTS, handle=on_entry,
                 handle_batch=on_entries),
    EventHandler(consumer="polyclinic.visit_entry_errors",
                 event_types=(EntryEnteredInError.event_type(),), handle=on_error),
]
