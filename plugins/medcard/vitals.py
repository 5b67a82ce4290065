"""Medical indicators (vital signs): fixed LOINC codes, UCUM units and plausibility limits.

Limits are physiological plausibility (what a living patient can show), not normal ranges: a value
outside them is a typing error, refused at entry. BMI is derived, never typed: it is added to a
weight or height entry when the other measure is on the card from the preceding year.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import select

from core.errors import ValidationFailed
from plugins.medcard.inputs import IndicatorIn
from plugins.medcard.kinds import Normalized
from plugins.medcard.tables import entries
from ports.storage import Transaction


class Vital(msgspec.Struct, frozen=True):
    loinc: str
    display: str
    unit: str  # UCUM
    low: float
    high: float


VITALS: dict[str, Vital] = {
    "systolic": Vital("8480-6", "Systolic blood pressure", "mm[Hg]", 40, 300),
    "diastolic": Vital("8462-4", "Diastolic blood pressure", "mm[Hg]", 20, 200),
    "pulse": Vital("8867-4", "Heart rate", "/min", 20, 300),
    "temperature": Vital("8310-5", "Body temperature", "Cel", 25, 45),
    "respiratory_rate": Vital("9279-1", "Respiratory rate", "/min", 4, 80),
    "spo2": Vital("59408-5", "Oxygen saturation (pulse oximetry)", "%", 40, 100),
    "height": Vital("8302-2", "Body height", "cm", 20, 260),
    "weight": Vital("29463-7", "Body weight", "kg", 0.3, 500),
    "glucose": Vital("15074-8", "Glucose [Moles/volume] in Blood", "mmol/L", 0.5, 60),
}
BLOOD_PRESSURE_LOINC = "85354-9"
BMI_LOINC = "39156-5"
BMI_WINDOW = timedelta(days=365)  # a height older than this no longer describes the patient
BMI_PARTS = {"weight": "height", "height": "weight"}  # a BMI is added to either, from the other


def normalize(data: IndicatorIn) -> Normalized:
    if data.code == "blood_pressure":
        if data.systolic is None or data.diastolic is None or data.value is not None:
            raise ValidationFailed("blood pressure needs systolic and diastolic, and no value")
        if data.diastolic >= data.systolic:
            raise ValidationFailed("diastolic pressure must be below systolic")
        parts = {"systolic": _plausible("systolic", data.systolic),
                 "diastolic": _plausible("diastolic", data.diastolic)}
        return Normalized(code=data.code, data={"loinc": BLOOD_PRESSURE_LOINC, "components": parts})
    if data.value is None or data.systolic is not None or data.diastolic is not None:
        raise ValidationFailed(f"{data.code} needs a value (and no systolic/diastolic)")
    return Normalized(code=data.code, data=_plausible(data.code, data.value))


def _plausible(code: str, value: float) -> dict[str, Any]:
    vital = VITALS[code]
    if not vital.low <= value <= vital.high:
        raise ValidationFailed(
            f"{vital.display} {value} {vital.unit} is outside plausible limits "
            f"{vital.low}-{vital.high} {vital.unit}",
            errors=[{"field": code if code in ("systolic", "diastolic") else "value",
                     "message": "implausible value"}])
    return {"loinc": vital.loinc, "value": value, "unit": vital.unit}


async def with_bmi(tx: Transaction, patient_id: UUID, found: Normalized, at: datetime) -> Normalized:
    """Add the derived BMI to a weight or height entry when the other measure is recent enough."""
    other = BMI_PARTS.get(found.code)
    if other is None:
        return found
    row = (await tx.execute(
        select(entries.c.entry_id, entries.c.data).where(
            entries.c.patient_id == patient_id, entries.c.kind == "indicator", entries.c.code == other,
            entries.c.status == "current", entries.c.performed_at <= at,
            entries.c.performed_at >= at - BMI_WINDOW)
        .order_by(entries.c.performed_at.desc()).limit(1))).first()
    if row is None:
        return found
    kg, cm = ((found.data["value"], row.data["value"]) if found.code == "weight"
              else (row.data["value"], found.data["value"]))
    bmi = {"loinc": BMI_LOINC, "value": round(kg / (cm / 100) ** 2, 1), "unit": "kg/m2",
           "from_entry": str(row.entry_id)}
    return msgspec.structs.replace(found, data={**found.data, "bmi": bmi})
