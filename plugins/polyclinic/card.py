"""The outpatient card of one visit: what the paper card holds, the sections of every encounter
card (:mod:`ports.encounter_card`) and the visit's own referrals and orders."""

from __future__ import annotations

from uuid import UUID

from plugins.polyclinic import referrals, visits
from plugins.polyclinic.schema import OutpatientCard
from plugins.polyclinic.tables import ENCOUNTERS
from ports.encounter_card import sections
from ports.storage import Transaction


async def assemble(tx: Transaction, facility: str, visit_id: UUID) -> OutpatientCard:
    visit = visits.to_visit(await visits.get(tx, facility, visit_id))
    return OutpatientCard(visit=visit, referrals=await referrals.of_visit(tx, visit_id),
                          **await sections(ENCOUNTERS, tx, visit_id))
