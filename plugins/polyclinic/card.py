"""The outpatient card of one visit: what the paper card holds, assembled from the entries the
card sent us and the visit's own referrals and orders. Entries marked "entered in error" leave it."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select

from plugins.polyclinic import referrals, visits
from plugins.polyclinic.schema import AttachedEntry, OutpatientCard
from plugins.polyclinic.tables import visit_entries
from ports.storage import Transaction

#: card entry kind -> section; a kind the card may add later shows only once it is named here
SECTIONS = {"complaint": "complaints", "finding": "findings", "indicator": "indicators",
            "diagnosis": "diagnoses", "lab": "results", "instrumental": "results",
            "prescription": "prescriptions"}


async def assemble(tx: Transaction, facility: str, visit_id: UUID) -> OutpatientCard:
    visit = visits.to_visit(await visits.get(tx, facility, visit_id))
    parts: dict[str, list[AttachedEntry]] = {s: [] for s in set(SECTIONS.values())}
    rows = await tx.execute(select(visit_entries).where(
        visit_entries.c.visit_id == visit_id, visit_entries.c.status == "current")
        .order_by(visit_entries.c.performed_at, visit_entries.c.entry_id))
    for r in rows:
        section = SECTIONS.get(r.kind)
        if section:
            parts[section].append(AttachedEntry(entry_id=r.entry_id, kind=r.kind, performed_at=r.performed_at,
                                                status=r.status, summary=r.summary))
    return OutpatientCard(visit=visit, referrals=await referrals.of_visit(tx, visit_id), **parts)
