"""Outpatient visits: opened at check-in or for a walk-in, closed only with a final diagnosis.

The visit's id is the card's ``encounter_id``: entries recorded with it (or for the patient at the
same facility while the visit is open) attach by themselves (see :mod:`inbound`). A closed visit
is read-only; a correction goes through the card's versioning, and its mirror here follows.

Conflicts: closing is an UPDATE conditioned on ``status = 'open'``; whatever adds to a visit
(a referral, an order) first locks it the same way (:func:`require_open`), so nothing is added to a
visit closed meanwhile. Lock order: the slot, then its visit. One open visit per patient and
facility is a partial unique index: a concurrent second open is a 409.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from core import icd10
from core.clock import utcnow
from core.errors import Conflict, NotFound
from core.events import VisitClosed, VisitOpened
from core.ids import new_id
from plugins.polyclinic import schedule
from plugins.polyclinic.schema import CloseIn, Visit
from plugins.polyclinic.tables import ENCOUNTERS, slots, visits
from ports.directory import PatientSummary
from ports.encounter_card import attached
from ports.storage import Transaction


def to_visit(row: Any) -> Visit:
    return Visit(id=row.id, patient_id=row.patient_id, doctor=row.doctor, status=row.status,
                 opened_at=row.opened_at, slot_id=row.slot_id, closed_at=row.closed_at,
                 final_diagnosis=row.final_diagnosis)


async def get(tx: Transaction, facility: str, visit_id: UUID) -> Any:
    row = (await tx.execute(select(visits).where(visits.c.id == visit_id,
                                                 visits.c.facility == facility))).first()
    if row is None:
        raise NotFound(f"no visit {visit_id} at this facility")
    return row


async def _open(tx: Transaction, facility: str, patient_id: UUID, pinfl: str, doctor: UUID,
                slot_id: UUID | None) -> Visit:
    busy = (await tx.execute(select(visits.c.id).where(
        visits.c.pinfl == pinfl, visits.c.facility == facility, visits.c.status == "open"))).first()
    if busy is not None:
        raise Conflict(f"the patient already has an open visit here ({busy.id}); close it first")
    row: dict[str, Any] = {"id": new_id(), "facility": facility, "patient_id": patient_id, "pinfl": pinfl,
           "doctor": doctor, "slot_id": slot_id, "status": "open", "opened_at": utcnow()}
    await tx.execute(visits.insert().values(row))
    await tx.publish(VisitOpened(patient=pinfl, facility=facility, visit_id=row["id"],
                                 patient_id=patient_id, doctor=doctor, slot_id=slot_id))
    return to_visit(await get(tx, facility, row["id"]))


async def check_in(tx: Transaction, facility: str, slot_id: UUID) -> Visit:
    """The booked patient arrived: the slot is checked in and the visit opens with its doctor."""
    slot = await schedule.get(tx, facility, slot_id)
    await schedule.move(tx, facility, slot_id, src="booked", why="cannot check in", status="checked_in")
    visit = await _open(tx, facility, slot.patient_id, slot.pinfl, slot.doctor, slot_id)
    await tx.execute(update(slots).where(slots.c.id == slot_id).values(visit_id=visit.id))
    return visit


async def walk_in(tx: Transaction, facility: str, patient: PatientSummary, doctor: UUID) -> Visit:
    return await _open(tx, facility, patient.id, patient.pinfl, doctor, None)


async def final_codes(tx: Transaction, visit_id: UUID) -> list[str]:
    """ICD-10 codes of the visit's current, not refuted, primary diagnoses on the card."""
    found = await attached(ENCOUNTERS, tx, visit_id, "diagnosis")
    return [s["icd10"] for s in (d.summary for d in found)
            if s.get("rank") == "primary" and s.get("verification") != "refuted" and s.get("icd10")]


async def close(tx: Transaction, facility: str, visit_id: UUID, data: CloseIn, by: UUID) -> Visit:
    row = await get(tx, facility, visit_id)
    if row.status != "open":
        raise Conflict(f"visit {visit_id} is already closed: it is read-only; correct the card instead")
    codes = await final_codes(tx, visit_id)
    if not codes:
        raise Conflict("a visit closes only with a final diagnosis: record the primary diagnosis on "
                       f"the card with encounter_id {visit_id} first")
    code = codes[0]
    if data.final_diagnosis is not None:
        code = icd10.normalize(data.final_diagnosis)
        if code not in codes:
            raise Conflict(f"{code} is not a primary diagnosis of this visit (it has {', '.join(codes)})")
    now = utcnow()
    result = await tx.execute(update(visits).where(visits.c.id == visit_id, visits.c.status == "open")
                              .values(status="closed", closed_at=now, closed_by=by, final_diagnosis=code))
    if result.rowcount != 1:
        raise Conflict(f"visit {visit_id} was closed meanwhile")
    await tx.publish(VisitClosed(patient=row.pinfl, facility=facility, visit_id=visit_id,
                                 patient_id=row.patient_id, final_diagnosis=code, closed_by=by))
    return to_visit(await get(tx, facility, visit_id))


async def require_open(tx: Transaction, facility: str, visit_id: UUID) -> Any:
    """The open visit, locked until the transaction ends (a no-op UPDATE on ``status = 'open'``, so
    a concurrent close waits for the change made here, or this sees it closed): 409 if closed."""
    row = await get(tx, facility, visit_id)
    held = await tx.execute(update(visits).where(visits.c.id == visit_id, visits.c.status == "open")
                            .values(status=visits.c.status))
    if held.rowcount != 1:
        raise Conflict(f"visit {visit_id} is closed: it is read-only")
    return row
