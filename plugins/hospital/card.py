"""The inpatient card of one stay: the sections of every encounter card (:mod:`ports.encounter_card`),
the stay's own rows and its transfers. The prescriptions issued on the discharge day (the encounter
kit attaches them even after the discharge) form the discharge prescriptions of the summary.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select

from plugins.hospital import stays
from plugins.hospital.schema import InpatientCard, Transfer
from plugins.hospital.tables import ENCOUNTERS, transfers
from ports.encounter_card import sections
from ports.storage import Transaction


async def assemble(tx: Transaction, facility: str, stay_id: UUID) -> InpatientCard:
    stay = stays.to_stay(await stays.get(tx, facility, stay_id))
    parts = await sections(ENCOUNTERS, tx, stay_id)
    moved = await tx.execute(select(transfers).where(transfers.c.stay_id == stay_id).order_by(transfers.c.at))
    history = [Transfer(from_ward=t.from_ward, from_bed=t.from_bed, to_ward=t.to_ward, to_bed=t.to_bed,
                        at=t.at, reason=t.reason) for t in moved]
    at_discharge = [p for p in parts["prescriptions"]
                    if stay.discharged_at and p.performed_at.date() == stay.discharged_at.date()]
    return InpatientCard(stay=stay, transfers=history, discharge_prescriptions=at_discharge, **parts)
