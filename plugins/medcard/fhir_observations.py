"""Vital signs and laboratory results on the card as FHIR R5 ``Observation``.

Vital signs carry the R5 vital-signs profile and the specific one of their code (as the national
guide's examples do: UZ Core defines no vital-sign profiles of its own and tags its examples with
the HL7 ones, see input/fsh/UZCoreObservation.fsh of uzinfocom-org/digital-health-ig); blood
pressure is the 85354-9 panel with systolic/diastolic components. Laboratory results carry their
reference range and the computed flag as an HL7 v3 interpretation. Both claim UZ Core Observation,
except a laboratory result without a LOINC code: the guide binds ``code`` to LOINC (required).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, false, or_
from sqlalchemy.sql import ColumnElement

from host.pluginapi import FhirQuery, fhir_token, uz_core
from plugins.medcard import fhir_query as q
from plugins.medcard.tables import entries
from plugins.medcard.vitals import BLOOD_PRESSURE_LOINC, VITALS

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_SD = "http://hl7.org/fhir/StructureDefinition/"
VITALSIGNS = _SD + "vitalsigns"
UZ_CORE = uz_core("uz-core-observation")
_PROFILE = {"blood_pressure": "bp", "pulse": "heartrate", "temperature": "bodytemp",
            "respiratory_rate": "resprate", "spo2": "oxygensat", "height": "bodyheight",
            "weight": "bodyweight"}
_FLAGS = {"N": "Normal", "L": "Low", "H": "High", "LL": "Critical low", "HH": "Critical high"}
_BY_LOINC = {v.loinc: name for name, v in VITALS.items()} | {BLOOD_PRESSURE_LOINC: "blood_pressure"}
KINDS = ("indicator", "lab")


def _category(code: str, display: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": _CATEGORY, "code": code, "display": display}]}]


def quantity(value: float, unit: str | None) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit} if unit else {"value": value}


def _loinc(code: str, display: str | None, text: str | None = None) -> dict[str, Any]:
    coding = {"system": LOINC, "code": code, **({"display": display} if display else {})}
    return {"coding": [coding], **({"text": text or display} if (text or display) else {})}


def _base(row: Any, subject: dict[str, Any], profiles: list[str]) -> dict[str, Any]:
    return {**q.common(row, "Observation", profiles),
            "status": "entered-in-error" if q.in_error(row) else "final",
            "subject": subject, **q.context(row),
            "effectiveDateTime": row.performed_at.isoformat(),
            "issued": row.recorded_at.isoformat(),  # when this version was made available
            "performer": [q.practitioner(row.author)]}


def vital(row: Any, subject: dict[str, Any]) -> dict[str, Any]:
    profiles = [UZ_CORE, VITALSIGNS] + ([_SD + _PROFILE[row.code]] if row.code in _PROFILE else [])
    out = {**_base(row, subject, profiles), "category": _category("vital-signs", "Vital Signs")}
    if row.code == "blood_pressure":
        out["code"] = _loinc(BLOOD_PRESSURE_LOINC, "Blood pressure panel with all children optional")
        out["component"] = [{"code": _loinc(VITALS[part].loinc, VITALS[part].display),
                             "valueQuantity": quantity(row.data["components"][part]["value"],
                                                       VITALS[part].unit)}
                            for part in ("systolic", "diastolic")]
        return out
    known = VITALS[row.code]
    out["code"] = _loinc(known.loinc, known.display)
    if row.code == "spo2":  # the R5 oxygensat profile requires 2708-6; 59408-5 says "pulse oximetry"
        out["code"]["coding"].insert(0, {"system": LOINC, "code": "2708-6",
                                         "display": "Oxygen saturation in Arterial blood"})
    out["valueQuantity"] = quantity(row.data["value"], row.data.get("unit") or known.unit)
    return out


def lab(row: Any, subject: dict[str, Any]) -> dict[str, Any]:
    data = row.data
    out = {**_base(row, subject, [UZ_CORE] if data.get("loinc") else []),
           "category": _category("laboratory", "Laboratory")}
    if not q.in_error(row) and row.clinical_status == "pending":
        out["status"] = "registered"  # ordered, awaiting its result
    out["code"] = _loinc(data["loinc"], data.get("display"), data["test"]) if data.get("loinc") else {
        "text": data["test"]}
    unit = data.get("unit")
    if data.get("value") is not None:
        out["valueQuantity"] = quantity(data["value"], unit)
    elif data.get("value_text"):
        out["valueString"] = data["value_text"]
    bounds = {k: quantity(data[f"reference_{k}"], unit) for k in ("low", "high")
              if data.get(f"reference_{k}") is not None}
    if bounds:
        out["referenceRange"] = [bounds]
    flag = row.flag or data.get("flag")
    if flag in _FLAGS:
        out["interpretation"] = [{"coding": [{"system": _INTERPRETATION, "code": flag,
                                              "display": _FLAGS[flag]}]}]
    return out


def _filters(query: FhirQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.code is not None:
        system, code = fhir_token(query.code)
        if system not in (None, "", LOINC):
            where.append(false())
        vital = _BY_LOINC.get(code)
        is_vital = and_(entries.c.kind == "indicator", entries.c.code == vital) if vital else false()
        where.append(or_(is_vital, and_(entries.c.kind == "lab", entries.c.code == code)))
    if query.status is not None:
        status = q.status_code(query)
        where += {"entered-in-error": [entries.c.status == "entered_in_error"],
                  "registered": [entries.c.status == "current", entries.c.clinical_status == "pending"],
                  "final": [entries.c.status == "current",
                            or_(entries.c.clinical_status.is_(None), entries.c.clinical_status != "pending")],
                  }.get(status, [false()])
    return where


def _observation(row: Any, subject: dict[str, Any]) -> dict[str, Any]:
    return vital(row, subject) if row.kind == "indicator" else lab(row, subject)


RESOURCE = q.entry_resource("Observation", KINDS, _observation, _filters)
