"""Rules across fields that the handlers enforce (422) and a JSON Schema can state, added to the
request bodies' schemas of the OpenAPI document so a generated client or a fuzzer sends what the
server accepts. Rules on query parameters, which OpenAPI cannot combine, are in the operations'
descriptions (the handlers' docstrings). ``tests/host/test_openapi_contract.py`` checks each rule
below still finds its schema and is what the server enforces.
"""

from __future__ import annotations

from typing import Any

_NUMBER, _NULL = {"type": "number"}, {"type": "null"}

#: component schema -> (the rule in words, the JSON Schema keywords that state it)
BODY_RULES: dict[str, tuple[str, dict[str, Any]]] = {
    "IndicatorIn": (
        "Blood pressure carries `systolic` and `diastolic` (diastolic below systolic) and no `value`; "
        "every other vital sign carries `value` and neither of the two.",
        {"if": {"properties": {"code": {"const": "blood_pressure"}}, "required": ["code"]},
         "then": {"required": ["systolic", "diastolic"],
                  "properties": {"systolic": _NUMBER, "diastolic": _NUMBER, "value": _NULL}},
         "else": {"required": ["value"],
                  "properties": {"value": _NUMBER, "systolic": _NULL, "diastolic": _NULL}}}),
    "AdmitIn": (
        "Admit from a pending referral (`referral_id`; a `patient_id` given must be the referred "
        "patient's) or as an emergency (`patient_id` without `referral_id`).",
        {"anyOf": [{"required": ["referral_id"], "properties": {"referral_id": {"type": "string"}}},
                   {"required": ["patient_id"], "properties": {"patient_id": {"type": "string"}}}]}),
    "PatientIn": (
        "The PINFL must agree with `birth_date` and `sex` (its first 7 digits encode them) and carry "
        "a valid check digit.", {}),
}


def apply(schemas: dict[str, Any]) -> list[str]:
    """Add each rule to its schema (where the module that owns it is enabled); the names applied."""
    applied = []
    for name, (words, keywords) in BODY_RULES.items():
        schema = schemas.get(name)
        if schema is None:
            continue
        schema.update(keywords)
        schema["description"] = " ".join(x for x in (schema.get("description"), words) if x)
        applied.append(name)
    return applied
