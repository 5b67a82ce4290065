"""The hospital's part of ``shifo demo``: a stay for the demo patient, recorded as the demo resident
and nurse would: admitted, six vitals on the medical card (through its API), transferred, discharged."""

from __future__ import annotations

from datetime import timedelta

from core.clock import utcnow
from host.pluginapi import DemoClinic, DemoData, DemoStep

MC, HOSP = "/api/v1/medcard", "/api/v1/hospital"


async def stay(clinic: DemoClinic) -> str:
    pid, icd10 = clinic.state["patient_id"], clinic.state.get("diagnosis", "I10")
    wards = await clinic.call("GET", f"{HOSP}/wards", None, "resident", 200)
    free = [(w, [b for b in w["beds"] if b.get("stay_id") is None]) for w in wards]
    ward = next((w for w, beds in free if len(beds) >= 2), None) or await clinic.call(
        "POST", f"{HOSP}/wards", {"name": "Cardiology 2", "profile": "cardiology",
                                  "beds": ["201-A", "201-B", "202-A"]}, "resident")
    beds = [b["id"] for b in ward["beds"] if b.get("stay_id") is None]
    stay_id = (await clinic.call("POST", f"{HOSP}/stays", {"patient_id": pid, "bed_id": beds[0],
                                                           "diagnosis": icd10}, "resident"))["id"]
    now = utcnow()
    for minutes_ago, (sys, dia, pulse) in ((20, (145, 92, 82)), (10, (138, 88, 78)), (1, (128, 84, 74))):
        at = (now - timedelta(minutes=minutes_ago)).isoformat()
        for body in ({"code": "blood_pressure", "systolic": sys, "diastolic": dia},
                     {"code": "pulse", "value": pulse}):
            await clinic.call("POST", f"{MC}/patients/{pid}/indicators",
                              {"performed_at": at, "encounter_id": stay_id, **body}, "nurse")
    await clinic.call("POST", f"{HOSP}/stays/{stay_id}/transfer",
                      {"bed_id": beds[1], "reason": "moved nearer the nurses' post"}, "resident", 200)
    await clinic.call("POST", f"{HOSP}/stays/{stay_id}/discharge", {
        "diagnosis": icd10, "outcome": "improved",
        "summary": "Blood pressure controlled on amlodipine; follow up at the polyclinic."}, "resident", 200)
    return "a hospital stay (admitted, transferred, discharged, 6 vitals)"


DEMO = DemoData(facility_kinds=("hospital",), steps=(DemoStep(order=50, run=stay),))
