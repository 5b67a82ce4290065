"""Use cases: record a dose given, list a patient's doses. Each runs inside the caller's transaction.

A dose is never updated: the record of a dose given is a fact. The same dose number of a vaccine
twice is a conflict (409), checked first for a clear message and held by a unique constraint
when two requests race.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select

from core.clock import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.ids import new_id
from ports.directory import SERVICE as DIRECTORY
from ports.directory import PatientSummary
from ports.storage import Transaction
from shifo_immunization.schema import Dose, DoseIn, DoseRecorded, ImmunizationSettings
from shifo_immunization.tables import doses


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": field, "message": message}])


async def patient(services: dict[str, Any], tx: Transaction, patient_id: UUID) -> PatientSummary:
    found: PatientSummary | None = await services[DIRECTORY].by_id(patient_id, tx)
    if found is None:
        raise NotFound(f"no patient {patient_id} on the medical card")
    return found


def check(data: DoseIn, who: PatientSummary, settings: ImmunizationSettings) -> str:
    """The vaccine's name, once the dose is plausible for this patient."""
    known = settings.known()
    if data.vaccine not in known:
        raise _invalid("vaccine", f"unknown vaccine code {data.vaccine!r}; known: {', '.join(sorted(known))}")
    if data.dose_number > settings.max_dose_number:
        raise _invalid("dose_number", f"dose_number is at most {settings.max_dose_number}")
    if data.given_on > utcnow().date():
        raise _invalid("given_on", "given_on is in the future")
    if data.given_on < who.birth_date:
        raise _invalid("given_on", "given_on is before the patient's birth")
    return known[data.vaccine]


async def record(tx: Transaction, facility: str, by: UUID, who: PatientSummary, data: DoseIn,
                 settings: ImmunizationSettings) -> Dose:
    name = check(data, who, settings)
    taken = await tx.execute(select(doses.c.id).where(
        doses.c.pinfl == who.pinfl, doses.c.vaccine == data.vaccine, doses.c.dose_number == data.dose_number))
    if taken.first() is not None:
        raise Conflict(f"dose {data.dose_number} of {data.vaccine} is already recorded for this patient")
    row = {"id": new_id(), "facility": facility, "patient_id": who.id, "pinfl": who.pinfl,
           "vaccine": data.vaccine, "dose_number": data.dose_number, "given_on": data.given_on,
           "lot": data.lot, "recorded_by": by, "recorded_at": utcnow()}
    await tx.execute(doses.insert().values(row))
    await tx.publish(DoseRecorded(patient=who.pinfl, facility=facility, dose_id=row["id"], author=by,
                                  vaccine=data.vaccine, vaccine_name=name, dose_number=data.dose_number,
                                  given_on=data.given_on, lot=data.lot))
    return _dose(row, name)


async def of_patient(tx: Transaction, pinfl: str, settings: ImmunizationSettings) -> list[Dose]:
    """Every dose the patient was given, in order of the day given."""
    rows = await tx.execute(select(doses).where(doses.c.pinfl == pinfl)
                            .order_by(doses.c.given_on, doses.c.vaccine, doses.c.dose_number))
    known = settings.known()
    return [_dose(r._mapping, known.get(r.vaccine, r.vaccine)) for r in rows]


def _dose(row: Any, name: str) -> Dose:
    return Dose(id=row["id"], vaccine=row["vaccine"], vaccine_name=name, dose_number=row["dose_number"],
                given_on=row["given_on"], lot=row["lot"], facility=row["facility"],
                recorded_at=row["recorded_at"])
