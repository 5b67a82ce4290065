"""The patient's own card as the patient app shows it: plot-ready indicator series, diagnoses and
results flattened from the stored entries (current versions only; corrections replace, errors leave).

Everything here is found through the caller's PINFL, never through an id taken from a request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import select

from core.errors import NotFound, ValidationFailed
from plugins.medcard.patients import to_patient
from plugins.medcard.schema import Patient
from plugins.medcard.tables import entries, patients
from plugins.medcard.vitals import BLOOD_PRESSURE_LOINC, BMI_LOINC, VITALS
from ports.storage import Transaction

RESULTS_LIMIT = 200  # the newest results on the card; older ones are in the history


class Point(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One reading; blood pressure carries ``systolic`` and ``diastolic`` instead of ``value``."""

    at: datetime
    entry_id: UUID
    value: float | None = None
    systolic: float | None = None
    diastolic: float | None = None


class Series(msgspec.Struct, frozen=True, kw_only=True):
    """One vital sign over time, oldest point first: ready to plot."""

    code: str  # LOINC
    name: str  # pulse, blood_pressure, temperature, ..., bmi (derived)
    display: str
    unit: str  # UCUM
    points: list[Point]


class Diagnosis(msgspec.Struct, frozen=True, kw_only=True):
    entry_id: UUID
    icd10: str
    display: str | None
    rank: str  # primary | secondary
    verification: str  # provisional | confirmed
    performed_at: datetime
    facility: str
    encounter_id: UUID | None
    note: str | None = None


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """A laboratory (value, range, HL7 flag) or instrumental (study, conclusion) result."""

    entry_id: UUID
    kind: str  # lab | instrumental
    name: str  # the test, or the study
    code: str  # LOINC or test name; the modality for instrumental results
    performed_at: datetime
    facility: str
    status: str  # pending (ordered, no result yet) | final
    value: float | None = None
    value_text: str | None = None
    unit: str | None = None
    reference_low: float | None = None
    reference_high: float | None = None
    flag: str | None = None  # N, L, H, LL, HH
    critical: bool = False
    conclusion: str | None = None
    findings: str | None = None
    measurements: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []


class MyCard(msgspec.Struct, frozen=True, kw_only=True):
    """Demographics, current diagnoses (refuted ones left out), each vital sign's latest reading
    (the full series are at ``/card/indicators``) and the newest results, newest first."""

    patient: Patient
    diagnoses: list[Diagnosis]
    latest_indicators: list[Series]
    results: list[Result]


async def own_patient(tx: Transaction, pinfl: str) -> Patient:
    """The caller's card; 404 while no clinician has registered them on the medical card."""
    row = (await tx.execute(select(patients).where(patients.c.pinfl == pinfl))).first()
    if row is None:
        raise NotFound("you have no medical card yet: it opens at your first registration by a clinician")
    return to_patient(row)


def check_aware(**bounds: datetime | None) -> None:
    for name, value in bounds.items():
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(f"{name} needs a timezone", errors=[{"field": name, "message": "naive"}])


def _current(patient_id: UUID, *kinds: str) -> Any:
    return select(entries).where(entries.c.patient_id == patient_id, entries.c.status == "current",
                                 entries.c.kind.in_(kinds))


async def series(tx: Transaction, patient_id: UUID, *, name: str | None = None,
                 since: datetime | None = None, until: datetime | None = None) -> list[Series]:
    stmt = _current(patient_id, "indicator")
    if since is not None:
        stmt = stmt.where(entries.c.performed_at >= since)
    if until is not None:
        stmt = stmt.where(entries.c.performed_at < until)
    found: dict[str, Series] = {}
    for row in await tx.execute(stmt.order_by(entries.c.performed_at, entries.c.id)):
        for key, point in _points(row):
            if name is None or key == name:
                found.setdefault(key, _empty(key)).points.append(point)
    return sorted(found.values(), key=lambda s: s.name)


def _empty(name: str) -> Series:
    if name == "blood_pressure":
        return Series(code=BLOOD_PRESSURE_LOINC, name=name, display="Blood pressure", unit="mm[Hg]",
                      points=[])
    if name == "bmi":
        return Series(code=BMI_LOINC, name=name, display="Body mass index", unit="kg/m2", points=[])
    vital = VITALS[name]
    return Series(code=vital.loinc, name=name, display=vital.display, unit=vital.unit, points=[])


def _points(row: Any) -> list[tuple[str, Point]]:
    data, at = row.data, row.performed_at
    if row.code == "blood_pressure":
        parts = data["components"]
        return [(row.code, Point(at=at, entry_id=row.entry_id, systolic=parts["systolic"]["value"],
                                 diastolic=parts["diastolic"]["value"]))]
    out = [(row.code, Point(at=at, entry_id=row.entry_id, value=data["value"]))]
    if "bmi" in data:  # derived from this weight or height and the other one
        out.append(("bmi", Point(at=at, entry_id=row.entry_id, value=data["bmi"]["value"])))
    return out


def latest(all_series: list[Series]) -> list[Series]:
    return [msgspec.structs.replace(s, points=s.points[-1:]) for s in all_series]


async def diagnoses(tx: Transaction, patient_id: UUID) -> list[Diagnosis]:
    stmt = _current(patient_id, "diagnosis").where(entries.c.clinical_status != "refuted")
    rows = await tx.execute(stmt.order_by(entries.c.performed_at.desc(), entries.c.id.desc()))
    return [Diagnosis(entry_id=r.entry_id, icd10=r.data["icd10"], display=r.data.get("display"),
                      rank=r.data["rank"], verification=r.data["verification"], performed_at=r.performed_at,
                      facility=r.facility, encounter_id=r.encounter_id, note=r.data.get("note"))
            for r in rows]


async def results(tx: Transaction, patient_id: UUID) -> list[Result]:
    stmt = _current(patient_id, "lab", "instrumental")
    rows = await tx.execute(stmt.order_by(entries.c.performed_at.desc(), entries.c.id.desc())
                            .limit(RESULTS_LIMIT))
    return [_result(r) for r in rows]


def _result(r: Any) -> Result:
    d = r.data
    common = {"entry_id": r.entry_id, "kind": r.kind, "performed_at": r.performed_at, "facility": r.facility,
              "status": r.clinical_status or "final"}
    if r.kind == "instrumental":
        return Result(**common, name=d["study"], code=d["modality"], conclusion=d["conclusion"],
                      findings=d.get("findings"), measurements=d.get("measurements", []),
                      attachments=d.get("attachments", []))
    return Result(**common, name=d.get("display") or d["test"], code=r.code, value=d.get("value"),
                  value_text=d.get("value_text"), unit=d.get("unit"), reference_low=d.get("reference_low"),
                  reference_high=d.get("reference_high"), flag=d.get("flag"),
                  critical=bool(d.get("critical")))
