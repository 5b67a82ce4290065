"""The polyclinic module's data as FHIR R5 resources (hook ``shifo_fhir_resources``): each
outpatient visit is an ambulatory ``Encounter`` (class AMB), its id the visit's (the card's
``encounter_id``). Its diagnoses are the visit's current ICD-10 diagnoses from the card, each a
CodeableReference to the code and to the card's Condition; the closing one is the ``final`` use.
It claims UZ Core Encounter.
"""

from __future__ import annotations

from typing import Any

from host.pluginapi import FhirItem, FhirRequest, FhirResource, encounter_resource, uz_core
from plugins.polyclinic.tables import ENCOUNTERS
from ports import encounter_card

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
        "resourceType": "Encounter", "id": str(row.id), "meta": {"profile": [uz_core("uz-core-encounter")]},
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
    found = await encounter_card.attached(ENCOUNTERS, req.tx, row.id, "diagnosis")
    resource = to_encounter(row, await req.patient_ref(row.pinfl), [(a.entry_id, a.summary) for a in found])
    return FhirItem(resource=resource, patient=row.pinfl, when=row.opened_at)


RESOURCES: list[FhirResource] = [
    encounter_resource(ENCOUNTERS, object="polyclinic.visit", statuses=STATUS, item=_item)]
