"""Instrumental results (ECG, ultrasound, X-ray, CT, MRI, endoscopy) as FHIR R5 ``DiagnosticReport``.

The category is the HL7 v2 diagnostic service section of the modality, the code a LOINC study
code with the study's own name as text. Measurements become contained Observations (they have no
life of their own on the card); the images and traces stay in their store, linked from
``presentedForm``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import false
from sqlalchemy.sql import ColumnElement

from host.pluginapi import FhirQuery, fhir_token
from plugins.medcard import fhir_query as q
from plugins.medcard.fhir_observations import LOINC, quantity
from plugins.medcard.tables import entries

_SECTION = "http://terminology.hl7.org/CodeSystem/v2-0074"
#: modality -> (v2-0074 section, its display), (LOINC study code, its display)
MODALITIES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "ecg": (("EC", "Electrocardiac (e.g., EKG, EEC, Holter)"), ("11524-6", "EKG study")),
    "ultrasound": (("RUS", "Radiology Ultrasound"), ("18748-4", "Diagnostic imaging study")),
    "xray": (("RX", "Radiograph"), ("18748-4", "Diagnostic imaging study")),
    "ct": (("CT", "CAT Scan"), ("18748-4", "Diagnostic imaging study")),
    "mri": (("NMR", "Nuclear Magnetic Resonance"), ("18748-4", "Diagnostic imaging study")),
    "endoscopy": (("OTH", "Other"), ("18751-8", "Endoscopy study")),
}
KINDS = ("instrumental",)


def to_report(row: Any, subject: dict[str, Any]) -> dict[str, Any]:
    data = row.data
    (section, section_name), (loinc, loinc_name) = MODALITIES[row.code]
    out: dict[str, Any] = {
        **q.common(row, "DiagnosticReport"),
        "status": "entered-in-error" if q.in_error(row) else "final",
        "category": [{"coding": [{"system": _SECTION, "code": section, "display": section_name}],
                      "text": row.code}],
        "code": {"coding": [{"system": LOINC, "code": loinc, "display": loinc_name}], "text": data["study"]},
        "subject": subject, **q.context(row),
        "effectiveDateTime": row.performed_at.isoformat(),
        "issued": row.recorded_at.isoformat(),  # when this version was made available
        "performer": [q.practitioner(row.author)],
        "conclusion": data["conclusion"],
    }
    if data.get("findings"):
        out["note"] = [{"text": data["findings"]}]
    measured = [{"resourceType": "Observation", "id": f"m{i}", "status": out["status"],
                 "code": {"text": m["name"]}, "valueQuantity": quantity(m["value"], m.get("unit"))}
                for i, m in enumerate(data.get("measurements") or [], 1)]
    if measured:
        out["contained"] = measured
        out["result"] = [{"reference": f"#{m['id']}", "display": m["code"]["text"]} for m in measured]
    forms = [{k: v for k, v in (("contentType", a.get("media_type")), ("url", a["uri"]),
                                ("title", a.get("title"))) if v}
             for a in data.get("attachments") or []]
    if forms:
        out["presentedForm"] = forms
    return out


def _filters(query: FhirQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.code is not None:
        system, code = fhir_token(query.code)
        if system in (None, "", LOINC):
            matching = [m for m, (_, (loinc, _)) in MODALITIES.items() if code in (loinc, m)]
            where.append(entries.c.code.in_(matching))
        else:
            where.append(false())
    if query.status is not None:
        where.append(q.final_or_in_error(query))
    return where


RESOURCE = q.entry_resource("DiagnosticReport", KINDS, to_report, _filters)
