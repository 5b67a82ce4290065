"""What the polyclinic does with other modules' events. Card entries and prescriptions join the
visits by the encounter kit's time rule (:mod:`ports.encounters`): a visit takes what was recorded
or issued while it was open, and a closed visit takes nothing new. A result closes the oldest open
order it matches; an admission from a hospital referral closes that referral."""

from __future__ import annotations

from collections.abc import Sequence

from core.events import EntryCorrected, EntryRecorded, Event, PatientAdmitted
from host.pluginapi import EventHandler, encounter_handlers
from plugins.polyclinic import referrals
from plugins.polyclinic.tables import ENCOUNTERS
from ports.storage import Transaction


async def close_orders(events: Sequence[Event], tx: Transaction) -> None:
    """Each result entry closes at most one open order of its patient (see :func:`referrals.fulfil`)."""
    for event in events:
        assert isinstance(event, EntryRecorded | EntryCorrected)
        if event.patient:
            await referrals.fulfil(tx, event.patient, event.entry_id, event.kind, dict(event.summary))


async def on_admitted(event: Event, tx: Transaction) -> None:
    """The hospital admitted the patient on a referral made here: the referral is done."""
    assert isinstance(event, PatientAdmitted) and event.referral_id is not None
    await referrals.admitted(tx, event.referral_id, event.occurred_at)


HANDLERS = [
    *encounter_handlers(ENCOUNTERS, also=close_orders),
    EventHandler(consumer="polyclinic.referral_admissions", event_types=(PatientAdmitted.event_type(),),
                 handle=on_admitted,
                 accepts=lambda e: isinstance(e, PatientAdmitted) and e.referral_id is not None),
]
