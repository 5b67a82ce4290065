"""The polyclinic's part of ``shifo demo``: a walk-in visit for the demo patient, recorded as the demo
doctor would (complaints, vitals, a finding, an ECG, a flagged lab result and a confirmed diagnosis
on the medical card, through its API), closed after the other modules' steps that need it open.

Clinical times are minutes ago, so nothing is flagged late.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.clock import utcnow
from host.pluginapi import DemoClinic, DemoData, DemoStep

MC, POLY = "/api/v1/medcard", "/api/v1/polyclinic"
ICD10 = "I10"  # essential (primary) hypertension


async def visit(clinic: DemoClinic) -> str:
    """Open the visit and record its 11 card entries; leaves ``visit_id`` and ``diagnosis``."""
    pid = clinic.state["patient_id"]
    visit_id = (await clinic.call("POST", f"{POLY}/visits", {"patient_id": pid}, "doctor"))["id"]
    now, card = utcnow(), f"{MC}/patients/{pid}"

    async def entry(path: str, minutes_ago: int, body: dict[str, Any]) -> None:
        at = (now - timedelta(minutes=minutes_ago)).isoformat()
        await clinic.call("POST", f"{card}/{path}", {"performed_at": at, "encounter_id": visit_id, **body},
                          "doctor")

    await entry("complaints", 50, {"complaints": "Headaches in the back of the head and dizziness for "
                                   "two weeks, worse in the mornings", "history": "Blood pressure up to "
                                   "160/100 at home; takes no medicines"})
    for code, value in (("pulse", 88), ("temperature", 36.7), ("weight", 84), ("height", 176)):
        await entry("indicators", 48, {"code": code, "value": value})
    await entry("indicators", 48, {"code": "blood_pressure", "systolic": 158, "diastolic": 98})
    await entry("indicators", 38, {"code": "blood_pressure", "systolic": 150, "diastolic": 95})
    await entry("findings", 45, {"system": "cardiovascular", "findings": "Heart sounds clear, rhythm "
                                 "regular, accentuated second sound over the aorta; no oedema"})
    await entry("instrumental-results", 40, {
        "modality": "ecg", "study": "12-lead ECG", "conclusion": "Sinus rhythm 86/min, signs of left "
        "ventricular hypertrophy", "measurements": [{"name": "QTc", "value": 412, "unit": "ms"}]})
    await entry("lab-results", 30, {"test": "Potassium", "loinc": "2823-3", "value": 5.6,
                                    "reference_low": 3.5, "reference_high": 5.1})
    await entry("diagnoses", 25, {"code": ICD10, "rank": "primary", "verification": "confirmed",
                                  "note": "Stage 2, first found"})
    clinic.state.update(visit_id=visit_id, diagnosis=ICD10)
    return f"a visit with 11 card entries ({ICD10})"


async def close(clinic: DemoClinic) -> str:
    """Close the visit: it closes only with its diagnosis on the visit card, which events fill, so
    the events written so far are delivered first."""
    await clinic.drain()
    await clinic.call("POST", f"{POLY}/visits/{clinic.state['visit_id']}/close", {}, "doctor", 200)
    return "the visit closed"


DEMO = DemoData(facility_kinds=("polyclinic",),
                steps=(DemoStep(order=20, run=visit), DemoStep(order=40, run=close)))
