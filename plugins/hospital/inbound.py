"""What the hospital does with other modules' events: a referral to this hospital becomes a
pending admission; the card's entries attach to the patient's stay.

An entry belongs to the stay whose id is its ``encounter_id``; one without it belongs to the
patient's current stay at the facility where it was recorded. A discharged stay takes no new
entries, but the mirror of an entry it already holds follows the card's corrections.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update

from core.events import EntryCorrected, EntryEnteredInError, EntryRecorded, Event, ReferralCreated
from host.pluginapi import EventHandler
from plugins.hospital.tables import pending, stay_entries, stays
from ports.storage import Transaction


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
        where: Any = stays.c.id == event.encounter_id
    else:
        where = ((stays.c.pinfl == event.patient) & (stays.c.facility == event.facility)
                 & (stays.c.admitted_at <= event.performed_at)
                 & (stays.c.discharged_at.is_(None) | (stays.c.discharged_at >= event.performed_at)))
    row = (await tx.execute(select(stays.c.id).where(where).order_by(stays.c.admitted_at.desc())
                            .limit(1))).first()
    return None if row is None else row.id


async def on_entry(event: Event, tx: Transaction) -> None:
    assert isinstance(event, EntryRecorded | EntryCorrected)
    held = {r.stay_id for r in await tx.execute(
        select(stay_entries.c.stay_id).where(stay_entries.c.entry_id == event.entry_id))}
    target = await _current_stay(tx, event)
    for stay_id in held | ({target} if target else set()):
        await tx.execute(delete(stay_entries).where(stay_entries.c.stay_id == stay_id,
                                                    stay_entries.c.entry_id == event.entry_id))
        await tx.execute(stay_entries.insert().values(
            stay_id=stay_id, entry_id=event.entry_id, kind=event.kind, performed_at=event.performed_at,
            status="current", summary=dict(event.summary)))


async def on_error(event: Event, tx: Transaction) -> None:
    assert isinstance(event, EntryEnteredInError)
    await tx.execute(update(stay_entries).where(stay_entries.c.entry_id == event.entry_id)
                     .values(status="entered_in_error"))


HANDLERS = [
    EventHandler(consumer="hospital.pending_admissions", event_types=(ReferralCreated.event_type(),),
                 handle=on_referral),
    EventHandler(consumer="hospital.stay_entries",
                 event_types=(EntryRecorded.event_type(), EntryCorrected.event_type()), handle=on_entry),
    EventHandler(consumer="hospital.stay_entry_errors",
                 event_types=(EntryEnteredInError.event_type(),), handle=on_error),
]
