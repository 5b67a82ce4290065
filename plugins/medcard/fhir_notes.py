"""Complaints and examination findings on the card as FHIR R5 ``Observation`` with text values.

A complaint is LOINC 10154-3 (chief complaint, as reported) with the history of the present
illness (10164-2) as a component; a finding is 29545-1 (physical findings) in category ``exam``,
the body system examined as ``bodySite`` text. So ``$everything`` carries every kind the card shows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import false
from sqlalchemy.sql import ColumnElement

from host.pluginapi import FhirQuery, fhir_token
from plugins.medcard import fhir_query as q
from plugins.medcard.fhir_observations import LOINC
from plugins.medcard.tables import entries

KINDS = ("complaint", "finding")
COMPLAINT, HISTORY, FINDINGS = "10154-3", "10164-2", "29545-1"
_NAMES = {COMPLAINT: "Chief complaint - Reported", HISTORY: "History of Present illness Narrative",
          FINDINGS: "Physical findings Narrative"}
_BY_CODE = {COMPLAINT: "complaint", FINDINGS: "finding"}
_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def _code(loinc: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": loinc, "display": _NAMES[loinc]}], "text": _NAMES[loinc]}


def note(row: Any, subject: dict[str, Any]) -> dict[str, Any]:
    data = row.data
    out: dict[str, Any] = {
        **q.common(row, "Observation"), "status": "entered-in-error" if q.in_error(row) else "final",
        "subject": subject, **q.context(row), "effectiveDateTime": row.performed_at.isoformat(),
        "issued": row.recorded_at.isoformat(), "performer": [q.practitioner(row.author)]}
    if row.kind == "complaint":
        out |= {"code": _code(COMPLAINT), "valueString": data["complaints"]}
        if data.get("history"):
            out["component"] = [{"code": _code(HISTORY), "valueString": data["history"]}]
        return out
    out |= {"category": [{"coding": [{"system": _CATEGORY, "code": "exam", "display": "Exam"}]}],
            "code": _code(FINDINGS), "valueString": data["findings"]}
    if data.get("system"):
        out["bodySite"] = {"text": data["system"]}
    return out


def _filters(query: FhirQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.code is not None:
        system, code = fhir_token(query.code)
        kind = _BY_CODE.get(code) if system in (None, "", LOINC) else None
        where.append(entries.c.kind == kind if kind else false())
    if query.status is not None:
        where.append(q.final_or_in_error(query))
    return where


RESOURCE = q.entry_resource("Observation", KINDS, note, _filters)
