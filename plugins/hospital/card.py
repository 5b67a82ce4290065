"""The inpatient card of one stay, assembled from its own rows and the card entries attached to it.

Prescriptions come from the erecipe module's events (:mod:`prescriptions` keeps them as stay
entries of kind ``prescription``, marked when cancelled); those issued on the discharge day form
the discharge prescriptions of the discharge summary.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select

from plugins.hospital import stays
from plugins.hospital.schema import AttachedEntry, InpatientCard, Transfer
from plugins.hospital.tables import stay_entries, transfers
from ports.storage import Transaction

SECTIONS = {"complaint": "complaints", "finding": "findings", "indicator": "indicators",
            "diagnosis": "diagnoses", "lab": "results", "instrumental": "results",
            "prescription": "prescriptions"}


async def assemble(tx: Transaction, facility: str, stay_id: UUID) -> InpatientCard:
    stay = stays.to_stay(await stays.get(tx, facility, stay_id))
    parts: dict[str, list[AttachedEntry]] = {s: [] for s in set(SECTIONS.values())}
    rows = await tx.execute(select(stay_entries).where(
        stay_entries.c.stay_id == stay_id, stay_entries.c.status == "current")
        .order_by(stay_entries.c.performed_at, stay_entries.c.entry_id))
    for r in rows:
        if section := SECTIONS.get(r.kind):
            parts[section].append(AttachedEntry(entry_id=r.entry_id, kind=r.kind,
                                                performed_at=r.performed_at, summary=r.summary))
    moved = await tx.execute(select(transfers).where(transfers.c.stay_id == stay_id).order_by(transfers.c.at))
    history = [Transfer(from_ward=t.from_ward, from_bed=t.from_bed, to_ward=t.to_ward, to_bed=t.to_bed,
                        at=t.at, reason=t.reason) for t in moved]
    at_discharge = [p for p in parts["prescriptions"]
                    if stay.discharged_at and p.performed_at.date() == stay.discharged_at.date()]
    return InpatientCard(stay=stay, transfers=history, discharge_prescriptions=at_discharge, **parts)
