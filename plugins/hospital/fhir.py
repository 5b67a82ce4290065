"""The hospital module's data as FHIR R5 resources (hook ``shifo_fhir_resources``): each stay is
an inpatient ``Encounter`` (class IMP), its id the stay's (the card's ``encounter_id``), with the
admission diagnosis as ``working``, the discharge diagnosis as ``final``, and the outcome as the
admission's discharge disposition. It claims UZ Core Encounter, whose required value sets shape the
codes: the guide lists no admit source for "emergency department" or "outpatient department"
(``other``, the text says which) and a death is its own ``mserv-0004-00002``.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from host.pluginapi import FhirItem, FhirRequest, FhirResource, encounter_resource, uz_core
from plugins.hospital.tables import ENCOUNTERS

ICD10 = "http://hl7.org/fhir/sid/icd-10"
_ACT = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
_USE = "http://hl7.org/fhir/encounter-diagnosis-use"
_SOURCE = "http://terminology.hl7.org/CodeSystem/admit-source"
_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
_UZ_DISPOSITION = "https://terminology.dhp.uz/fhir/core/CodeSystem/encounter-discharge-disposition-home-cs"
STATUS = {"admitted": "in-progress", "discharged": "completed"}
#: the discharge outcome -> (system, code, display) from the guide's value set (the outcome is the text)
DISPOSITION = {"recovered": (_DISPOSITION, "home", "Home"), "improved": (_DISPOSITION, "home", "Home"),
               "unchanged": (_DISPOSITION, "home", "Home"), "worsened": (_DISPOSITION, "home", "Home"),
               "transferred": (_DISPOSITION, "other-hcf", "Other healthcare facility"),
               "deceased": (_UZ_DISPOSITION, "mserv-0004-00002", "Died"),
               "left_against_advice": (_DISPOSITION, "oth", "Other")}


def _coded(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        out["text"] = text
    return out


def _diagnosis(code: str, use: str) -> dict[str, Any]:
    return {"condition": [{"concept": {"coding": [{"system": ICD10, "code": code}]}}],
            "use": [_coded(_USE, use, use.title())]}


def _participant(code: str, display: str, account: UUID) -> dict[str, Any]:
    return {"type": [_coded(_PARTICIPATION, code, display)],
            "actor": {"reference": f"Practitioner/{account}"}}


def to_encounter(row: Any, subject: dict[str, Any]) -> dict[str, Any]:
    period = {"start": row.admitted_at.isoformat()}
    participants = [_participant("ADM", "admitter", row.admitted_by)]
    diagnoses = [_diagnosis(row.admission_diagnosis, "working")]
    came = "from the emergency department" if row.emergency else "from the outpatient department"
    admission: dict[str, Any] = {"admitSource": _coded(_SOURCE, "other", "Other", came)}
    if row.discharged_at is not None:
        period["end"] = row.discharged_at.isoformat()
        if row.discharged_by is not None:
            participants.append(_participant("DIS", "discharger", row.discharged_by))
        if row.discharge_diagnosis:
            diagnoses.append(_diagnosis(row.discharge_diagnosis, "final"))
        if row.outcome in DISPOSITION:
            system, code, display = DISPOSITION[row.outcome]
            admission["dischargeDisposition"] = _coded(system, code, display, row.outcome.replace("_", " "))
    out: dict[str, Any] = {
        "resourceType": "Encounter", "id": str(row.id), "meta": {"profile": [uz_core("uz-core-encounter")]},
        "status": STATUS.get(row.status, "unknown"),
        "class": [_coded(_ACT, "IMP", "inpatient encounter")],
        "subject": subject,
        "serviceProvider": {"reference": f"Organization/{row.facility}"},
        "participant": participants,
        "actualPeriod": period,
        "diagnosis": diagnoses,
        "admission": admission,
    }
    if row.emergency:
        out["priority"] = _coded(_PRIORITY, "EM", "emergency")
    return out


async def _item(req: FhirRequest, row: Any) -> FhirItem:
    """Version 1 as admitted, 2 once discharged: the stay's resource changes at nothing else."""
    return FhirItem(resource=to_encounter(row, await req.patient_ref(row.pinfl)), patient=row.pinfl,
                    when=row.admitted_at, version="1" if row.discharged_at is None else "2",
                    updated=row.discharged_at or row.admitted_at)


RESOURCES: list[FhirResource] = [
    encounter_resource(ENCOUNTERS, object="hospital.stay", statuses=STATUS, item=_item, updated=True)]
