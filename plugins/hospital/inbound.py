"""What the hospital does with other modules' events: a referral to this hospital becomes a
pending admission; the card's entries attach to the patient's stay.

An entry belongs to the stay whose id is its ``encounter_id``; one without it belongs to the
patient's current stay at the facility where it was recorded. A discharged stay takes no new
entries, but the mirror of an entry it already holds follows the card's corrections. Each copy
keeps the newest version delivered, in whatever order the versions come (:mod:`ports.projection`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, select

from core.events import EntryCorrected, EntryEnteredInError, EntryRecorded, Event, ReferralCreated
from host.pluginapi import EventHandler
from plugins.hospital.tables import entry_marks, pending, stay_entries, stays
from ports.projection import Mirror, told
from ports.sql import in_list
from ports.storage import Transaction, prepared

#: the stays' copies of card entries and prescriptions, newest version wins (ports.projection)
MIRROR = Mirror(stay_entries, "stay_id", entry_marks)


async def on_referral(event: Event, tx: Transaction) -> None:
    assert isinstance(event, ReferralCreated)
    seen = (await tx.execute(select(pending.c.referral_id)
                             .where(pending.c.referral_id == event.referral_id))).first()
    if seen is None and event.patient:
        await tx.execute(pending.insert().values(
            referral_id=event.referral_id, facility=event.to_facility, from_facility=event.facility,
            patient_id=event.patient_id, pinfl=event.patient, diagnosis=event.diagnosis,
            reason=event.reason, received_at=event.occurred_at, status="pending"))


async def _current_stay(tx: Transaction, event: EntryRecorded | EntryCorrected) -> UUID | None:
    """The stay an entry belongs to: the one it names, else the stay at its facility that covered
    the moment it was performed. Judged by clinical time, not by when the relay delivers it, so an
    entry delivered after the discharge still lands on its stay."""
    if event.encounter_id is not None:
        found = await tx.execute(_NAMED_STAY, {"encounter_id": event.encounter_id})
    else:
        found = await tx.execute(_STAY_AT, {"pinfl": event.patient, "facility": event.facility,
                                            "at": event.performed_at})
    row = found.first()
    return None if row is None else row.id


def _latest_stay(where: Any) -> Any:
    return prepared(select(stays.c.id).where(where).order_by(stays.c.admitted_at.desc()).limit(1))


# Built once: the relay runs these for every entry written anywhere.
_AT = bindparam("at", type_=stays.c.admitted_at.type)
_NAMED_STAY = _latest_stay(stays.c.id == bindparam("encounter_id"))
_STAY_AT = _latest_stay((stays.c.pinfl == bindparam("pinfl")) & (stays.c.facility == bindparam("facility"))
                        & (stays.c.admitted_at <= _AT)
                        & (stays.c.discharged_at.is_(None) | (stays.c.discharged_at >= _AT)))


_CURRENT_STAYS = {  # built once per dialect, kept prepared: the relay runs it for every batch
    dialect: prepared(
        select(stays.c.id, stays.c.pinfl, stays.c.facility, stays.c.admitted_at, stays.c.discharged_at)
        .where(in_list(stays.c.pinfl, "pinfls", dialect),
               stays.c.admitted_at <= bindparam("last"),
               stays.c.discharged_at.is_(None) | (stays.c.discharged_at >= bindparam("first")))
        .order_by(stays.c.admitted_at.desc()))
    for dialect in ("postgresql", "sqlite")
}


async def _current_stays(tx: Transaction, events: list[EntryRecorded]) -> dict[UUID, UUID]:
    """:func:`_current_stay` for many entries that name no stay, in one query: entry id -> stay."""
    if not events:
        return {}
    first, last = min(e.performed_at for e in events), max(e.performed_at for e in events)
    rows = (await tx.execute(_CURRENT_STAYS[tx.dialect], {
        "pinfls": sorted({e.patient for e in events}), "first": first, "last": last})).all()
    found = {}
    for e in events:
        at = e.performed_at
        stay = next((r.id for r in rows if r.pinfl == e.patient and r.facility == e.facility
                     and r.admitted_at <= at and (r.discharged_at is None or r.discharged_at >= at)), None)
        if stay is not None:
            found[e.entry_id] = stay
    return found


async def on_entries(events: Sequence[Event], tx: Transaction) -> None:
    """:func:`on_entry` for a batch: new entries that name no stay find theirs in one query."""
    await MIRROR.entries(tx, events, _current_stays, _current_stay)


async def on_entry(event: Event, tx: Transaction) -> None:
    """An entry's version joins its stay and every stay already holding the entry, unless a newer
    version is there already (a retried delivery arrives after newer ones)."""
    await on_entries([event], tx)


async def on_error(event: Event, tx: Transaction) -> None:
    """Entered in error: a mark over the entry's older versions, kept even if none arrived yet."""
    assert isinstance(event, EntryEnteredInError)
    await MIRROR.apply(tx, [(told(event), None)])


HANDLERS = [
    EventHandler(consumer="hospital.pending_admissions", event_types=(ReferralCreated.event_type(),),
                 handle=on_referral),
    EventHandler(consumer="hospital.stay_entries",
                 event_types=(EntryRecorded.event_type(), EntryCorrected.event_type()), handle=on_entry,
                 handle_batch=on_entries),
    EventHandler(consumer="hospital.stay_entry_errors",
                 event_types=(EntryEnteredInError.event_type(),), handle=on_error),
]
