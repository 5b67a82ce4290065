"""The polyclinic module's data as FHIR R5 resources (hook ``shifo_fhir_resources``): each
outpatient visit is an ambulatory ``Encounter`` (class AMB), its id the visit's (the card's
``encounter_id``). Its diagnoses are the visit's current ICD-10 diagnoses from the card, each a
CodeableReference to the code and to the card's Condition; the closing one is the ``final`` use.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from host.pluginapi import FhirItem, FhirQuery, FhirRequest, FhirResource, fhir_uuid
from plugins.polyclinic.tables import visit_entries, visits

ICD10 = "http://hl7.org/fhir/sid/icd-10"
_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_USE = "http://hl7.org/fhir/encounter-diagnosis-use"
STATUS = {"open": "in-progress", "closed": "completed"}


def _use(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": _USE, "code": code, "display": code.title()}]}]


def _diagnoses(row: Any, attached: list[Any]) -> list[dict[str, Any]]:
    out, final_seen = [], False
    for entry_id, summary in attached:
        code = summary.get("icd10")
        if not code or summary.get("verification") == "refuted":
            continue
        final = row.status == "closed" and code == row.final_diagnosis and not final_seen
        final_seen = final_seen or final
        concept = {"coding": [{"system": ICD10, "code": code, **(
            {"display": summary["display"]} if summary.get("display") else {})}]}
        link = {"concept": concept, "reference": {"reference": f"Condition/{entry_id}"}}
        out.append({"condition": [link],
                    "use": _use("final" if final else "working")})
    if row.final_diagnosis and not final_seen:
        out.append({"condition": [{"concept": {"coding": [{"system": ICD10, "code": row.final_diagnosis}]}}],
                    "use": _use("final")})
    return out


def to_encounter(row: Any, subject: dict[str, Any], attached: list[Any]) -> dict[str, Any]:
    period = {"start": row.opened_at.isoformat()}
    if row.closed_at is not None:
        period["end"] = row.closed_at.isoformat()
    out: dict[str, Any] = {
        "resourceType": "Encounter", "id": str(row.id),
        "status": STATUS.get(row.status, "unknown"),
        "class": [{"coding": [{"system": _ACT, "code": "AMB", "display": "ambulatory"}]}],
        "subject": subject,
        "serviceProvider": {"reference": f"Organization/{row.facility}"},
        "participant": [{"type": [{"coding": [{"system": _PARTICIPATION, "code": "ATND",
                                               "display": "attender"}]}],
                         "actor": {"reference": f"Practitioner/{row.doctor}"}}],
        "actualPeriod": period,
    }
    if diagnoses := _diagnoses(row, attached):
        out["diagnosis"] = diagnoses
    return out


async def _item(req: FhirRequest, row: Any) -> FhirItem:
    attached = (await req.tx.execute(select(visit_entries.c.entry_id, visit_entries.c.summary).where(
        visit_entries.c.visit_id == row.id, visit_entries.c.kind == "diagnosis",
        visit_entries.c.status == "current").order_by(visit_entries.c.performed_at))).all()
    resource = to_encounter(row, await req.patient_ref(row.pinfl), [tuple(a) for a in attached])
    return FhirItem(resource=resource, patient=row.pinfl, when=row.opened_at)


async def read(req: FhirRequest, id: str) -> FhirItem | None:
    visit_id = fhir_uuid(id)
    if visit_id is None:
        return None
    row = (await req.tx.execute(select(visits).where(visits.c.id == visit_id))).first()
    return None if row is None else await _item(req, row)


async def search(req: FhirRequest, query: FhirQuery) -> list[FhirItem]:
    stmt = select(visits)
    if query.patient is not None:
        stmt = stmt.where(visits.c.pinfl == query.patient)
    if query.since is not None:
        stmt = stmt.where(visits.c.opened_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(visits.c.opened_at < query.until)
    if query.status is not None:
        wanted = [k for k, v in STATUS.items() if v == (query.status.partition("|")[2] or query.status)]
        stmt = stmt.where(visits.c.status.in_(wanted))
    rows = await req.tx.execute(stmt.order_by(visits.c.opened_at.desc(), visits.c.id.desc())
                                .limit(max(query.limit, 0)))
    return [await _item(req, row) for row in rows.all()]


RESOURCES: list[FhirResource] = [FhirResource(
    type="Encounter", object="polyclinic.visit", action="read", read=read, search=search,
    params=("patient", "date", "status"))]
