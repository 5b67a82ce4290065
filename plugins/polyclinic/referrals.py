"""Referrals to a hospital and orders for laboratory or instrumental examinations.

A hospital referral is published as :class:`~core.events.ReferralCreated`; the target facility's
hospital module turns it into a pending admission; the admission from it closes it
(:func:`admitted`). An order stays open until a matching result is recorded on the card (any
facility): :func:`fulfil` closes the oldest matching order of the patient.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update

from core import icd10
from core.clock import utcnow
from core.errors import ValidationFailed
from core.events import OrderClosed, OrderCreated, ReferralCreated
from core.ids import new_id
from plugins.polyclinic.schema import Referral, ReferralIn
from plugins.polyclinic.tables import referrals
from plugins.polyclinic.visits import require_open
from ports.storage import Transaction

MODALITIES = frozenset({"ecg", "ultrasound", "xray", "ct", "mri", "endoscopy"})


def to_referral(row: Any) -> Referral:
    return Referral(id=row.id, visit_id=row.visit_id, kind=row.kind, status=row.status, code=row.code,
                    to_facility=row.to_facility, diagnosis=row.diagnosis, reason=row.reason,
                    result_entry_id=row.result_entry_id)


def _fail(field: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": field, "message": detail}])


def _target(data: ReferralIn) -> tuple[str | None, str | None]:
    """(to_facility, code) after the per-kind rules."""
    if data.kind == "hospital":
        if not data.to_facility:
            raise _fail("to_facility", "a hospital referral names the hospital (to_facility)")
        return data.to_facility, None
    if not data.code:
        raise _fail("code", f"a {data.kind} order names the test or study (code)")
    if data.kind == "instrumental" and data.code not in MODALITIES:
        raise _fail("code", f"code must be one of {', '.join(sorted(MODALITIES))}")
    return None, data.code


async def create(tx: Transaction, facility: str, visit_id: UUID, data: ReferralIn) -> Referral:
    to_facility, code = _target(data)
    diagnosis = icd10.normalize(data.diagnosis) if data.diagnosis else None
    visit = await require_open(tx, facility, visit_id)
    row = {"id": new_id(), "visit_id": visit_id, "facility": facility, "pinfl": visit.pinfl,
           "kind": data.kind, "code": code, "to_facility": to_facility, "diagnosis": diagnosis,
           "reason": data.reason, "status": "open", "created_at": utcnow()}
    await tx.execute(referrals.insert().values(row))
    if data.kind == "hospital":
        assert to_facility is not None
        await tx.publish(ReferralCreated(patient=visit.pinfl, facility=facility, referral_id=row["id"],
                                         visit_id=visit_id, patient_id=visit.patient_id,
                                         to_facility=to_facility, diagnosis=diagnosis, reason=data.reason))
    else:
        assert code is not None
        await tx.publish(OrderCreated(patient=visit.pinfl, facility=facility, order_id=row["id"],
                                      visit_id=visit_id, patient_id=visit.patient_id, kind=data.kind,
                                      code=code))
    return to_referral(await one(tx, row["id"]))


async def one(tx: Transaction, referral_id: UUID) -> Any:
    return (await tx.execute(select(referrals).where(referrals.c.id == referral_id))).one()


async def of_visit(tx: Transaction, visit_id: UUID) -> list[Referral]:
    rows = await tx.execute(select(referrals).where(referrals.c.visit_id == visit_id)
                            .order_by(referrals.c.created_at, referrals.c.id))
    return [to_referral(r) for r in rows]


def _matches(kind: str, summary: dict[str, Any]) -> list[str] | None:
    """The order codes a result entry fulfils, or None if it is no result (a pending lab order)."""
    if kind == "instrumental":
        return [str(summary.get("modality"))]
    if kind == "lab" and (summary.get("value") is not None or summary.get("value_text") is not None):
        return [str(v).casefold() for v in (summary.get("loinc"), summary.get("test")) if v]
    return None


async def fulfil(tx: Transaction, pinfl: str, entry_id: UUID, kind: str, summary: dict[str, Any]) -> None:
    """The oldest open order the result matches is closed by it. One result entry closes one order:
    its other versions (a correction, a retried delivery, in whatever order) close no other."""
    codes = _matches(kind, summary)
    if not codes or pinfl is None:
        return
    closed = select(referrals.c.id).where(referrals.c.pinfl == pinfl, referrals.c.kind == kind,
                                          referrals.c.result_entry_id == entry_id)
    if (await tx.execute(closed)).first():
        return
    row = (await tx.execute(select(referrals).where(
        referrals.c.pinfl == pinfl, referrals.c.kind == kind, referrals.c.status == "open",
        func.lower(referrals.c.code).in_(codes)).order_by(referrals.c.created_at).limit(1))).first()
    if row is None:
        return
    done = await tx.execute(update(referrals).where(referrals.c.id == row.id, referrals.c.status == "open")
                            .values(status="closed", closed_at=utcnow(), result_entry_id=entry_id))
    if done.rowcount != 1:  # closed meanwhile: its event was published by whoever closed it
        return
    await tx.publish(OrderClosed(patient=pinfl, facility=row.facility, order_id=row.id,
                                 visit_id=row.visit_id, entry_id=entry_id))


async def admitted(tx: Transaction, referral_id: UUID, at: datetime) -> None:
    """The hospital admitted the patient on this referral: closed at the admission's time, so a
    redelivered admission writes the same (and one for a referral not made here changes nothing)."""
    await tx.execute(update(referrals).where(referrals.c.id == referral_id, referrals.c.kind == "hospital",
                                             referrals.c.status == "open")
                     .values(status="closed", closed_at=at))
