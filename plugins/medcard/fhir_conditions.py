"""Diagnoses on the card as FHIR R5 ``Condition`` (encounter diagnoses coded in ICD-10).

The card's verification (provisional / confirmed / refuted) is the ``verificationStatus``; an entry
marked entered in error is ``entered-in-error``. R5 requires a ``clinicalStatus``: a diagnosis the
card holds is ``active``, a refuted or erroneous one ``inactive``. ICD-10 coded, they claim the
guide's UZ Core Clinical Condition (its UZ Core Condition is for conditions without ICD-10 codes).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, or_
from sqlalchemy.sql import ColumnElement

from host.pluginapi import FhirQuery, fhir_token, uz_core
from plugins.medcard import fhir_query as q
from plugins.medcard.tables import entries

ICD10 = "http://hl7.org/fhir/sid/icd-10"
_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
KINDS = ("diagnosis",)


def _concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def verification(row: Any) -> str:
    return "entered-in-error" if q.in_error(row) else str(row.clinical_status or "unconfirmed")


def to_condition(row: Any, subject: dict[str, Any]) -> dict[str, Any]:
    data = row.data
    checked = verification(row)
    clinical = "active" if checked in ("provisional", "confirmed", "unconfirmed") else "inactive"
    code: dict[str, Any] = {"coding": [{"system": ICD10, "code": data.get("icd10") or row.code}]}
    if data.get("display"):
        code["coding"][0]["display"] = data["display"]
        code["text"] = data["display"]
    resource = {
        **q.common(row, "Condition", [uz_core("uz-core-clinical-condition")]),
        "clinicalStatus": _concept(_CLINICAL, clinical),
        "verificationStatus": _concept(_VERIFICATION, checked),
        "category": [{"coding": [{"system": _CATEGORY, "code": "encounter-diagnosis",
                                  "display": "Encounter Diagnosis"}]}],
        "code": code,
        "subject": subject,
        **q.context(row),
        "onsetDateTime": row.performed_at.isoformat(),
        "recordedDate": (row.first_recorded or row.recorded_at).isoformat(),
        "participant": [{"function": _concept(
            "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "author"),
            "actor": q.practitioner(row.author)}],
    }
    if data.get("note"):
        resource["note"] = [{"text": data["note"]}]
    return resource


def _filters(query: FhirQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.code is not None:
        system, code = fhir_token(query.code)
        if system not in (None, "", ICD10):
            where.append(false())  # another code system: nothing matches
        where.append(entries.c.code == code.strip().upper())
    if query.status is not None:
        status = q.status_code(query)
        if status == "entered-in-error":
            where.append(entries.c.status == "entered_in_error")
        elif status in ("active", "inactive"):
            refuted = or_(entries.c.clinical_status == "refuted", entries.c.status == "entered_in_error")
            where.append(refuted if status == "inactive" else ~refuted)
        else:  # a verification status
            where += [entries.c.status == "current", entries.c.clinical_status == status]
    return where


RESOURCE = q.entry_resource("Condition", KINDS, to_condition, _filters)
