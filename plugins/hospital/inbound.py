"""What the hospital does with other modules' events: a referral to this hospital becomes a
pending admission; card entries and prescriptions join the stays by the encounter kit's time rule
(:mod:`ports.encounters`): a stay takes what was recorded while the patient was admitted, and a
discharged stay takes no new entries (only its discharge-day prescriptions).
"""

from __future__ import annotations

from sqlalchemy import select

from core.events import Event, ReferralCreated
from host.pluginapi import EventHandler, encounter_handlers
from plugins.hospital.tables import ENCOUNTERS, pending
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


HANDLERS = [
    EventHandler(consumer="hospital.pending_admissions", event_types=(ReferralCreated.event_type(),),
                 handle=on_referral),
    *encounter_handlers(ENCOUNTERS),
]
