"""Laboratory results: LOINC where known, the abnormal flag computed, critical values detected.

Flags follow HL7: N normal, L/H outside the reference range, LL/HH beyond a critical limit. The
request may give its own limits (the laboratory's); otherwise a few well-known tests carry
default critical limits in their canonical UCUM unit.
"""

from __future__ import annotations

import math

import msgspec

from core.errors import ValidationFailed
from plugins.medcard.inputs import LabIn
from plugins.medcard.kinds import Normalized


class KnownTest(msgspec.Struct, frozen=True):
    display: str
    unit: str
    critical_low: float | None
    critical_high: float | None


KNOWN: dict[str, KnownTest] = {
    "2823-3": KnownTest("Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 2.8, 6.2),
    "2951-2": KnownTest("Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 120, 160),
    "2345-7": KnownTest("Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 40, 450),
    "15074-8": KnownTest("Glucose [Moles/volume] in Blood", "mmol/L", 2.2, 25),
    "718-7": KnownTest("Hemoglobin [Mass/volume] in Blood", "g/L", 60, 200),
    "777-3": KnownTest("Platelets [#/volume] in Blood", "10*9/L", 20, 1000),
    "6690-2": KnownTest("Leukocytes [#/volume] in Blood", "10*9/L", 2, 30),
    "2160-0": KnownTest("Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", None, 7.4),
    "6301-6": KnownTest("INR in Platelet poor plasma", "{INR}", None, 5),
}


def loinc_check_digit(number: str) -> int:
    """LOINC's mod-10 check digit (the Luhn scheme) of the part before the hyphen."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d // 10 + d % 10
    return (10 - total % 10) % 10


def _fail(field: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": field, "message": detail}])


def normalize(data: LabIn) -> Normalized:
    known = None
    if data.loinc is not None:
        number, check = data.loinc.split("-")
        if loinc_check_digit(number) != int(check):
            raise _fail("loinc", f"LOINC code {data.loinc} has a wrong check digit")
        known = KNOWN.get(data.loinc)
    unit = data.unit
    if known is not None:
        if unit is not None and unit != known.unit:
            raise _fail("unit", f"{data.loinc} is reported in {known.unit}, not {unit}")
        unit = known.unit
    default = known or KnownTest("", "", None, None)
    crit_low = data.critical_low if data.critical_low is not None else default.critical_low
    crit_high = data.critical_high if data.critical_high is not None else default.critical_high
    limits = {"reference_low": data.reference_low, "reference_high": data.reference_high,
              "critical_low": crit_low, "critical_high": crit_high}
    for name, value in [*limits.items(), ("value", data.value)]:
        if value is not None and not math.isfinite(value):
            raise _fail(name, f"{name} must be a finite number")
    _check_order(limits)
    if data.value is not None and data.value_text is not None:
        raise _fail("value", "give a numeric value or a text value, not both")
    flag = _flag(data.value, limits) if data.value is not None else None
    stored = {"test": data.test, "loinc": data.loinc, "display": known.display if known else None,
              "value": data.value, "value_text": data.value_text, "unit": unit, **limits, "flag": flag,
              "critical": flag in ("LL", "HH"), "requested_by": _str(data.requested_by)}
    pending = data.value is None and data.value_text is None
    return Normalized(code=data.loinc or data.test[:64], data=stored,
                      clinical_status="pending" if pending else "final", flag=flag)


def _check_order(limits: dict[str, float | None]) -> None:
    order = [limits["critical_low"], limits["reference_low"], limits["reference_high"],
             limits["critical_high"]]
    given = [v for v in order if v is not None]
    if given != sorted(given):
        raise _fail("reference_low", "limits must be ordered: critical low <= reference low <= "
                                     "reference high <= critical high")


def _flag(value: float, limits: dict[str, float | None]) -> str | None:
    low, high = limits["reference_low"], limits["reference_high"]
    if limits["critical_low"] is not None and value < limits["critical_low"]:
        return "LL"
    if limits["critical_high"] is not None and value > limits["critical_high"]:
        return "HH"
    if low is not None and value < low:
        return "L"
    if high is not None and value > high:
        return "H"
    return "N" if low is not None or high is not None else None


def _str(value: object) -> str | None:
    return None if value is None else str(value)
