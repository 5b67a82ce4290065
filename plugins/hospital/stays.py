"""Inpatient stays: admission (from a pending referral or as an emergency) with a diagnosis and a
bed, transfers with their history, discharge with a diagnosis, an outcome and a summary.

Conflicts (see "Conflicts" in docs/architecture.md): each step first changes the stay with an
UPDATE conditioned on the state it read (admitted, and for a transfer the bed it leaves), which also
takes the stay's row lock; only then does it touch beds, both of a transfer locked in id order. So
locks are always taken stay first, then beds by id, and a loser sees 0 rows: 409. One admitted stay
per patient and facility is also a partial unique index (a concurrent double admission is a 409).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from core import icd10
from core.clock import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import PatientAdmitted, PatientDischarged, PatientTransferred
from core.ids import new_id
from plugins.hospital import wards
from plugins.hospital.schema import AdmitIn, DischargeIn, Stay, TransferIn
from plugins.hospital.tables import pending, stays, transfers
from ports.directory import PatientSummary
from ports.storage import Transaction


def to_stay(r: Any) -> Stay:
    return Stay(id=r.id, patient_id=r.patient_id, status=r.status, emergency=r.emergency,
                admission_diagnosis=r.admission_diagnosis, ward_id=r.ward_id, bed_id=r.bed_id,
                admitted_at=r.admitted_at, referral_id=r.referral_id, discharged_at=r.discharged_at,
                discharge_diagnosis=r.discharge_diagnosis, outcome=r.outcome, summary=r.summary)


async def get(tx: Transaction, facility: str, stay_id: UUID) -> Any:
    row = (await tx.execute(select(stays).where(stays.c.id == stay_id, stays.c.facility == facility))).first()
    if row is None:
        raise NotFound(f"no stay {stay_id} at this facility")
    return row


async def referral(tx: Transaction, facility: str, referral_id: UUID) -> Any:
    row = (await tx.execute(select(pending).where(pending.c.referral_id == referral_id,
                                                  pending.c.facility == facility))).first()
    if row is None:
        detail = f"no referral {referral_id} to this hospital"
        raise ValidationFailed(detail, errors=[{"field": "referral_id", "message": detail}])
    if row.status != "pending":
        raise Conflict(f"referral {referral_id} was already admitted (stay {row.stay_id})")
    return row


async def admit(tx: Transaction, facility: str, data: AdmitIn, patient: PatientSummary, by: UUID) -> Stay:
    diagnosis = icd10.normalize(data.diagnosis)
    here = (await tx.execute(select(stays.c.id).where(stays.c.pinfl == patient.pinfl,
                             stays.c.facility == facility, stays.c.status == "admitted"))).first()
    if here is not None:
        raise Conflict(f"the patient is already admitted here (stay {here.id})")
    stay_id = new_id()
    bed = await wards.bed(tx, facility, data.bed_id)
    if data.referral_id is not None:
        done = await tx.execute(update(pending).where(pending.c.referral_id == data.referral_id,
                                                      pending.c.status == "pending")
                                .values(status="admitted", stay_id=stay_id))
        if done.rowcount != 1:
            raise Conflict(f"referral {data.referral_id} was admitted meanwhile")
    await tx.execute(stays.insert().values(
        id=stay_id, facility=facility, patient_id=patient.id, pinfl=patient.pinfl, status="admitted",
        referral_id=data.referral_id, emergency=data.referral_id is None, admission_diagnosis=diagnosis,
        ward_id=bed.ward_id, bed_id=bed.id, admitted_at=utcnow(), admitted_by=by))
    await wards.occupy(tx, facility, bed.id, stay_id)  # the new stay first, then its bed
    await tx.publish(PatientAdmitted(patient=patient.pinfl, facility=facility, stay_id=stay_id,
                                     patient_id=patient.id, ward_id=bed.ward_id, bed_id=bed.id,
                                     diagnosis=diagnosis, referral_id=data.referral_id,
                                     emergency=data.referral_id is None, attending=by))
    return to_stay(await get(tx, facility, stay_id))


async def _admitted(tx: Transaction, facility: str, stay_id: UUID, doing: str) -> Any:
    row = await get(tx, facility, stay_id)
    if row.status != "admitted":
        raise Conflict(f"cannot {doing}: the patient was already discharged ({row.discharged_at:%Y-%m-%d})")
    return row


def _changed(doing: str) -> Conflict:
    return Conflict(f"cannot {doing}: the stay was discharged or transferred meanwhile; read it again")


async def transfer(tx: Transaction, facility: str, stay_id: UUID, data: TransferIn, by: UUID) -> Stay:
    row = await _admitted(tx, facility, stay_id, "transfer")
    if row.bed_id == data.bed_id:
        raise Conflict("the patient already lies in this bed")
    target = await wards.bed(tx, facility, data.bed_id)
    moved = await tx.execute(update(stays).where(  # the stay's lock, on the state read above
        stays.c.id == stay_id, stays.c.status == "admitted", stays.c.bed_id == row.bed_id,
    ).values(ward_id=target.ward_id, bed_id=target.id))
    if moved.rowcount != 1:
        raise _changed("transfer")
    await wards.lock(tx, [row.bed_id, target.id])  # then its beds, in id order
    await wards.release(tx, row.bed_id, stay_id)
    bed = await wards.occupy(tx, facility, target.id, stay_id)
    await tx.execute(transfers.insert().values(
        id=new_id(), stay_id=stay_id, from_ward=row.ward_id, from_bed=row.bed_id, to_ward=bed.ward_id,
        to_bed=bed.id, at=utcnow(), by=by, reason=data.reason))
    await tx.publish(PatientTransferred(patient=row.pinfl, facility=facility, stay_id=stay_id,
                                        patient_id=row.patient_id, from_bed=row.bed_id, to_ward=bed.ward_id,
                                        to_bed=bed.id, reason=data.reason))
    return to_stay(await get(tx, facility, stay_id))


async def discharge(tx: Transaction, facility: str, stay_id: UUID, data: DischargeIn, by: UUID) -> Stay:
    diagnosis = icd10.normalize(data.diagnosis)
    await _admitted(tx, facility, stay_id, "discharge")
    done = await tx.execute(update(stays).where(stays.c.id == stay_id, stays.c.status == "admitted").values(
        status="discharged", discharged_at=utcnow(), discharged_by=by, discharge_diagnosis=diagnosis,
        outcome=data.outcome, summary=data.summary))
    if done.rowcount != 1:
        raise Conflict("cannot discharge: the patient was discharged meanwhile")
    row = await get(tx, facility, stay_id)  # under the stay's lock: the bed it lies in now
    await wards.release(tx, row.bed_id, stay_id)
    await tx.publish(PatientDischarged(patient=row.pinfl, facility=facility, stay_id=stay_id,
                                       patient_id=row.patient_id, diagnosis=diagnosis, outcome=data.outcome,
                                       summary=data.summary))
    return to_stay(row)


async def admitted(tx: Transaction, facility: str) -> list[Stay]:
    rows = await tx.execute(select(stays).where(stays.c.facility == facility, stays.c.status == "admitted")
                            .order_by(stays.c.admitted_at))
    return [to_stay(r) for r in rows]
