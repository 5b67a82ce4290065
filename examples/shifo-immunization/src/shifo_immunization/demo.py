"""The module's part of ``shifo demo``: the demo patient's childhood vaccinations, recorded by the
demo doctor at the polyclinic through the module's API (idempotent: skipped once recorded)."""

from __future__ import annotations

from datetime import date, timedelta

from host.pluginapi import DemoClinic

ORDER = 15  # after medcard registers the demo patient (10)
API = "/api/v1/immunization"
SCHEDULE = (("HEPB", 1, 0), ("BCG", 1, 3), ("PENTA", 1, 60), ("PENTA", 2, 90), ("MMR", 1, 365))


async def vaccinate(clinic: DemoClinic) -> str | None:
    pid = clinic.state["patient_id"]
    done = await clinic.call("GET", f"{API}/patients/{pid}/doses", None, "doctor", 200)
    if done:
        return None
    patient = await clinic.call("GET", f"/api/v1/medcard/patients/{pid}", None, "doctor", 200)
    born = date.fromisoformat(patient["birth_date"])
    for vaccine, number, days in SCHEDULE:
        await clinic.call("POST", f"{API}/patients/{pid}/doses", {
            "vaccine": vaccine, "dose_number": number, "given_on": (born + timedelta(days=days)).isoformat(),
            "lot": f"{vaccine}-{born.year + days // 365}-{number:02d}"}, "doctor")
    return f"{len(SCHEDULE)} vaccine doses"
