"""Use cases of the medical card. Each runs in one transaction: rows and their events together."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from core import pinfl as pinfl_rules
from core.clock import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import EntryRecorded, PatientRegistered
from core.ids import new_id
from plugins.medcard.schema import Entry, EntryIn, EntryPage, Patient, PatientIn
from plugins.medcard.tables import entries, patients
from plugins.medcard.vitals import BLOOD_PRESSURE_LOINC, VITALS
from ports.storage import Transaction

CLOCK_SKEW = timedelta(seconds=120)  # devices' clocks drift; beyond this "future" is an error
LATE_AFTER = timedelta(hours=24)


async def register_patient(
    tx: Transaction, data: PatientIn, *, by: UUID | None, facility: str | None
) -> Patient:
    pinfl_rules.validate(data.pinfl, data.birth_date, data.sex)
    row = {"id": new_id(), "registered_at": utcnow(), "registered_by": by, "facility": facility,
           "pinfl": data.pinfl, "surname": data.surname, "given_name": data.given_name,
           "patronymic": data.patronymic, "birth_date": data.birth_date, "sex": data.sex}
    exists = await tx.execute(select(patients.c.id).where(patients.c.pinfl == data.pinfl))
    if exists.first() is not None:
        raise Conflict(f"a patient with PINFL {data.pinfl} is already registered")
    try:
        await tx.execute(patients.insert().values(row))
    except IntegrityError:  # a concurrent registration won the race
        raise Conflict(f"a patient with PINFL {data.pinfl} is already registered") from None
    await tx.publish(PatientRegistered(patient=data.pinfl, facility=facility, patient_id=row["id"],
                                       surname=data.surname, given_name=data.given_name))
    return Patient(**{k: row[k] for k in Patient.__struct_fields__})


async def get_patient(tx: Transaction, patient_id: UUID) -> Patient:
    row = (await tx.execute(select(patients).where(patients.c.id == patient_id))).first()
    if row is None:
        raise NotFound(f"no patient {patient_id}")
    return _patient(row)


async def find_patients(tx: Transaction, pinfl: str) -> list[Patient]:
    rows = await tx.execute(select(patients).where(patients.c.pinfl == pinfl))
    return [_patient(r) for r in rows]


def _patient(row: Any) -> Patient:
    return Patient(**{k: getattr(row, k) for k in Patient.__struct_fields__})


def _indicator_data(data: EntryIn) -> dict[str, Any]:
    """Check plausibility; return the stored data with LOINC codes and UCUM units."""
    if data.code == "blood_pressure":
        parts = {"systolic": data.systolic, "diastolic": data.diastolic}
        if None in parts.values() or data.value is not None:
            raise ValidationFailed("blood pressure needs systolic and diastolic, and no value")
        assert data.systolic is not None and data.diastolic is not None
        if data.diastolic >= data.systolic:
            raise ValidationFailed("diastolic pressure must be below systolic")
        out: dict[str, Any] = {"loinc": BLOOD_PRESSURE_LOINC, "components": {}}
        for name, value in parts.items():
            out["components"][name] = _plausible(name, value)
        return out
    if data.value is None or data.systolic is not None or data.diastolic is not None:
        raise ValidationFailed(f"{data.code} needs a value (and no systolic/diastolic)")
    return _plausible(data.code, data.value)


def _plausible(code: str, value: float | None) -> dict[str, Any]:
    vital = VITALS[code]
    assert value is not None
    if not vital.low <= value <= vital.high:
        raise ValidationFailed(
            f"{vital.display} {value} {vital.unit} is outside plausible limits "
            f"{vital.low}-{vital.high} {vital.unit}",
            errors=[{"field": "value", "message": "implausible value"}])
    return {"loinc": vital.loinc, "value": value, "unit": vital.unit}


async def record_entry(tx: Transaction, patient_id: UUID, data: EntryIn, *, author: UUID, role: str,
                       facility: str) -> Entry:
    now = utcnow()
    if data.performed_at.tzinfo is None:
        raise ValidationFailed("performed_at needs a timezone (e.g. 2026-11-25T09:30:00+05:00)")
    if data.performed_at > now + CLOCK_SKEW:
        raise ValidationFailed("performed_at is in the future")
    stored = _indicator_data(data)
    pinfl = (await tx.execute(select(patients.c.pinfl).where(patients.c.id == patient_id))).scalar()
    if pinfl is None:
        raise NotFound(f"no patient {patient_id}")
    row = {"id": new_id(), "patient_id": patient_id, "kind": "indicator", "code": data.code,
           "data": stored, "performed_at": data.performed_at, "recorded_at": now, "author": author,
           "role": role, "facility": facility, "encounter_id": data.encounter_id, "version": 1,
           "status": "current", "late": now - data.performed_at > LATE_AFTER}
    await tx.execute(entries.insert().values(row))
    await tx.publish(EntryRecorded(patient=pinfl, facility=facility, entry_id=row["id"], kind="indicator",
                                   author=author, encounter_id=data.encounter_id,
                                   performed_at=data.performed_at, summary={"code": data.code, **stored}))
    return Entry(**row)


def _cursor(performed_at: datetime, entry_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{performed_at.isoformat()}|{entry_id}".encode()).decode()


def _uncursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        at, _, eid = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(at), UUID(eid)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("the page cursor is not valid; start again without it") from None


async def timeline(tx: Transaction, patient_id: UUID, *, limit: int, cursor: str | None,
                   kind: str | None) -> EntryPage:
    """Newest first, keyset-paginated on (performed_at, id): stable under concurrent inserts."""
    await get_patient(tx, patient_id)
    stmt = select(entries).where(entries.c.patient_id == patient_id, entries.c.status == "current")
    if kind:
        stmt = stmt.where(entries.c.kind == kind)
    if cursor:
        at, eid = _uncursor(cursor)
        stmt = stmt.where(or_(entries.c.performed_at < at,
                              and_(entries.c.performed_at == at, entries.c.id < eid)))
    rows = (await tx.execute(stmt.order_by(entries.c.performed_at.desc(), entries.c.id.desc())
                             .limit(limit + 1))).all()
    items = [Entry(**row._asdict()) for row in rows[:limit]]
    nxt = _cursor(items[-1].performed_at, items[-1].id) if len(rows) > limit else None
    return EntryPage(items=items, next=nxt)
