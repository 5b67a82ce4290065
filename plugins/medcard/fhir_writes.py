"""Card entries created from FHIR (``POST /fhir``, a ``transaction`` Bundle): vital-sign
Observations become indicator entries, Conditions diagnosis entries.

Each resource is mapped onto the native input (:mod:`plugins.medcard.inputs`, with its limits)
and recorded by :func:`entries.record`, as the native routes do: the same checks, one event and
one audit entry per entry, and the kind's own permission (the host checks ``write_object``). The
mapping is strict: what the card cannot hold faithfully (another unit, a lab Observation, a
resolved Condition) is refused with the FHIRPath of the element, never silently changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import msgspec

from core.errors import NotFound, ShifoError, ValidationFailed
from host.pluginapi import FhirCreate, FhirItem, FhirRead, FhirWrite, fhir_uuid
from plugins.medcard import entries
from plugins.medcard.api import author, late_after
from plugins.medcard.fhir_conditions import ICD10
from plugins.medcard.fhir_observations import LOINC, UCUM
from plugins.medcard.inputs import DiagnosisIn, IndicatorIn
from plugins.medcard.vitals import BLOOD_PRESSURE_LOINC, VITALS

_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_PARTS = ("systolic", "diastolic")
#: LOINC -> the card's vital code; 2708-6 is what the R5 oxygensat profile requires for SpO2
_BY_LOINC = {v.loinc: name for name, v in VITALS.items() if name not in _PARTS} | {
    BLOOD_PRESSURE_LOINC: "blood_pressure", "2708-6": "spo2"}
_VERIFICATION = {"provisional": "provisional", "unconfirmed": "provisional", "confirmed": "confirmed",
                 "refuted": "refuted"}
_AT = re.compile(r"at `\$\.(\w+)")
T = TypeVar("T")


def fail(field: str, message: str, status: type[ShifoError] = ValidationFailed) -> ShifoError:
    return status(f"{field}: {message}", errors=[{"field": field, "message": message}])


def codes(concept: Any, system: str) -> list[str]:
    codings = concept.get("coding", []) if isinstance(concept, dict) else []
    return [c["code"] for c in codings if c.get("system") == system and c.get("code")]


def _when(resource: dict[str, Any], field: str) -> datetime:
    text = resource.get(field)
    if not isinstance(text, str):
        raise fail(field, "required: when it happened, with a time and a timezone")
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise fail(field, "needs a time and a timezone (e.g. 2026-11-25T09:30:00+05:00)") from None
    if at.tzinfo is None:
        raise fail(field, "needs a time and a timezone (e.g. 2026-11-25T09:30:00+05:00)")
    return at


def _ref(resource: dict[str, Any], field: str, type_: str) -> UUID | None:
    ref = resource.get(field)
    if ref is None and field == "encounter":
        return None
    text = ref.get("reference", "") if isinstance(ref, dict) else ""
    found = fhir_uuid(text.removeprefix(f"{type_}/")) if text.startswith(f"{type_}/") else None
    if found is None:
        raise fail(field, f"reference an existing {type_} as {type_}/<id>")
    return found


def observation(r: dict[str, Any]) -> tuple[IndicatorIn, dict[str, str]]:
    if "vital-signs" not in [c for cat in r.get("category", []) for c in codes(cat, _CATEGORY)]:
        raise fail("category", "only vital-sign Observations (category vital-signs) can be created here")
    if r.get("status") != "final":
        raise fail("status", "must be final")
    known = [_BY_LOINC[c] for c in codes(r.get("code"), LOINC) if c in _BY_LOINC]
    if not known:
        raise fail("code", "a LOINC code of a vital sign the card records (blood pressure as the panel "
                   f"{BLOOD_PRESSURE_LOINC} with systolic and diastolic components)")
    extra = [k for k in r if (k.startswith("value") and k != "valueQuantity")
             or k in ("dataAbsentReason", "hasMember", "derivedFrom")]
    if extra or ("component" in r) != (known[0] == "blood_pressure"):
        bad = extra[0] if extra else "component"
        raise fail(bad, "not supported: a vital sign is one valueQuantity, blood pressure two components")
    fields = {"performed_at": "effectiveDateTime", "encounter_id": "encounter", "code": "code",
              "value": "valueQuantity.value", "*": "component" if "component" in r else "valueQuantity"}
    given: dict[str, Any] = {"code": known[0]}
    if known[0] == "blood_pressure":
        for part in _PARTS:
            at = next((i for i, c in enumerate(r["component"])
                       if VITALS[part].loinc in codes(c.get("code"), LOINC)), None)
            if at is None:
                raise fail("component", f"the {part} component ({VITALS[part].loinc}) is missing")
            path = f"component[{at}].valueQuantity"
            fields[part] = f"{path}.value"
            given[part] = _quantity(r["component"][at].get("valueQuantity"), path, part)
    else:
        given["value"] = _quantity(r.get("valueQuantity"), "valueQuantity", known[0])
    return _input(IndicatorIn, {**given, "performed_at": _when(r, "effectiveDateTime"),
                                "encounter_id": _ref(r, "encounter", "Encounter")}, fields), fields


def _quantity(q: Any, path: str, code: str) -> float:
    unit = VITALS[code].unit
    value = q.get("value") if isinstance(q, dict) else None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise fail(f"{path}.value", "a number is required")
    if q.get("system", UCUM) != UCUM or (q.get("code") or q.get("unit")) != unit:
        raise fail(path, f"the unit must be UCUM {unit}")
    return float(value)


def condition(r: dict[str, Any]) -> tuple[DiagnosisIn, dict[str, str]]:
    icd = codes(r.get("code"), ICD10)
    if not icd:
        raise fail("code", f"an ICD-10 coding ({ICD10}) is required")
    stated = codes(r.get("verificationStatus"), "http://terminology.hl7.org/CodeSystem/condition-ver-status")
    if r.get("verificationStatus") is not None and (not stated or stated[0] not in _VERIFICATION):
        raise fail("verificationStatus", "provisional, unconfirmed, confirmed or refuted")
    verification = _VERIFICATION[stated[0]] if stated else "provisional"
    clinical = codes(r.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/condition-clinical")
    if clinical != ["active"] and not (verification == "refuted" and clinical == ["inactive"]):
        raise fail("clinicalStatus", "the card records active diagnoses (inactive only when refuted)")
    categories = [c for cat in r.get("category", [])
                  for c in codes(cat, "http://terminology.hl7.org/CodeSystem/condition-category")]
    if "category" in r and "encounter-diagnosis" not in categories:
        raise fail("category", "the card records encounter diagnoses (encounter-diagnosis)")
    notes = [n["text"] for n in r.get("note", []) if n.get("text")]
    fields = {"performed_at": "onsetDateTime", "encounter_id": "encounter", "code": "code",
              "note": "note", "verification": "verificationStatus", "*": "code"}
    given = {"code": icd[0], "rank": "secondary", "verification": verification,
             "note": "\n".join(notes) or None, "performed_at": _when(r, "onsetDateTime"),
             "encounter_id": _ref(r, "encounter", "Encounter")}
    return _input(DiagnosisIn, given, fields), fields


def _input(cls: type[T], given: dict[str, Any], fields: dict[str, str]) -> T:
    """The native input, with its limits checked as a native body's would be."""
    try:
        return msgspec.convert(given, cls)
    except msgspec.ValidationError as e:
        found = _AT.search(str(e))
        raise fail(fields.get(found.group(1), fields["*"]) if found else fields["*"],
                   str(e).split(" - at ")[0]) from None


def writer(map_: Callable[[dict[str, Any]], tuple[Any, dict[str, str]]], read: FhirRead) -> FhirCreate:
    """A ``FhirResource.create``: map, record as the native route does, answer as ``read`` would."""

    async def create(req: FhirWrite, resource: dict[str, Any]) -> FhirItem:
        patient = _ref(resource, "subject", "Patient")
        assert patient is not None
        data, fields = map_(resource)
        ctx = req.ctx
        known = await req.patient(patient)  # read once per Bundle; if unknown, record reads and refuses
        seen = None if known is None else (known.pinfl, known.birth_date)
        try:
            entry = await entries.record(req.tx, patient, data, by=author(ctx), late_after=late_after(ctx),
                                         audit=ctx.audit, patient=seen)
        except NotFound:
            raise fail("subject", f"no Patient/{patient}", NotFound) from None
        except ValidationFailed as e:
            raise _located(e, fields) from None
        item = await read(req, str(entry.id))
        assert item is not None  # just written in this transaction
        return item

    return create


def _located(e: ValidationFailed, fields: dict[str, str]) -> ValidationFailed:
    """The native error, its fields renamed to the resource's FHIRPaths."""
    found = [{**err, "field": fields.get(str(err.get("field")), fields["*"])} for err in e.errors]
    return ValidationFailed(e.detail, errors=found or [{"field": fields["*"], "message": e.detail}])

