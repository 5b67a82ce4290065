"""The patient registry: one patient per PINFL, found by PINFL or by name with date of birth."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from core import pinfl as pinfl_rules
from core.clock import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import PatientRegistered
from core.ids import new_id
from plugins.medcard.audit import Audit
from plugins.medcard.names import search_key
from plugins.medcard.schema import Patient, PatientIn
from plugins.medcard.tables import patients
from ports.storage import Transaction, prepared

SEARCH_LIMIT = 50


async def register(tx: Transaction, data: PatientIn, *, by: UUID | None, facility: str | None,
                   audit: Audit) -> Patient:
    pinfl_rules.validate(data.pinfl, data.birth_date, data.sex)
    row: dict[str, Any] = {
        "id": new_id(), "registered_at": utcnow(), "registered_by": by, "facility": facility,
        "pinfl": data.pinfl, "surname": data.surname, "given_name": data.given_name,
        "patronymic": data.patronymic, "birth_date": data.birth_date, "sex": data.sex,
        "surname_key": search_key(data.surname), "given_key": search_key(data.given_name)}
    exists = await tx.execute(select(patients.c.id).where(patients.c.pinfl == data.pinfl))
    if exists.first() is not None:
        raise Conflict(f"a patient with PINFL {data.pinfl} is already registered")
    try:
        await tx.execute(patients.insert().values(row))
    except IntegrityError:  # a concurrent registration won the race
        raise Conflict(f"a patient with PINFL {data.pinfl} is already registered") from None
    await tx.publish(PatientRegistered(patient=data.pinfl, facility=facility, patient_id=row["id"],
                                       surname=data.surname, given_name=data.given_name))
    await audit(tx, "medcard.patient/register", patient=data.pinfl, object=str(row["id"]))
    return Patient(**{k: row[k] for k in Patient.__struct_fields__})


async def get(tx: Transaction, patient_id: UUID) -> Patient:
    row = (await tx.execute(_BY_ID, {"patient_id": patient_id})).first()
    if row is None:
        raise NotFound(f"no patient {patient_id}")
    return to_patient(row)


_BY_ID = prepared(select(patients).where(patients.c.id == bindparam("patient_id")))  # read on every card page


async def read(tx: Transaction, patient_id: UUID, *, audit: Audit) -> Patient:
    patient = await get(tx, patient_id)
    await audit(tx, "medcard.patient/read", patient=patient.pinfl, object=str(patient_id))
    return patient


async def search(tx: Transaction, *, audit: Audit, pinfl: str | None = None,
                 surname: str | None = None, given_name: str | None = None,
                 birth_date: date | None = None) -> list[Patient]:
    """By PINFL, or by surname and date of birth (given name optional): never a bare name list."""
    stmt = select(patients)
    if pinfl is not None:
        stmt = stmt.where(patients.c.pinfl == pinfl)
    elif surname is not None and birth_date is not None:
        stmt = stmt.where(patients.c.surname_key == search_key(surname), patients.c.birth_date == birth_date)
        if given_name is not None:
            stmt = stmt.where(patients.c.given_key == search_key(given_name))
    else:
        raise ValidationFailed("search by pinfl, or by surname with birth_date (given_name optional)")
    rows = await tx.execute(stmt.order_by(patients.c.surname, patients.c.given_name, patients.c.id)
                            .limit(SEARCH_LIMIT))
    found = [to_patient(r) for r in rows]
    for patient in found:
        await audit(tx, "medcard.patient/search", patient=patient.pinfl, object=str(patient.id))
    return found


def to_patient(row: Any) -> Patient:
    return Patient(**{k: getattr(row, k) for k in Patient.__struct_fields__})
