"""The medical card's part of ``shifo demo``: the demo patients, registered as the demo doctor would.

A PINFL already registered answers 409 and counts as present. A demo patient whose card already has
entries ends the demo data: a second ``shifo demo`` records nothing twice.
"""

from __future__ import annotations

from typing import Any

from core.pinfl import check_digit
from host.pluginapi import DemoClinic, DemoData, DemoRefused, DemoStep

MC = "/api/v1/medcard"


def _pinfl(first13: str) -> str:
    return first13 + str(check_digit(first13))


OTHERS: tuple[dict[str, Any], ...] = (
    {"pinfl": _pinfl("4210792014023"), "surname": "Saidova", "given_name": "Nodira",
     "patronymic": "Baxtiyorovna", "birth_date": "1992-07-21", "sex": "female"},
    {"pinfl": _pinfl("4090178027031"), "surname": "G\u02bbafurova", "given_name": "Shahnoza",
     "patronymic": "Anvarovna", "birth_date": "1978-01-09", "sex": "female"},
    {"pinfl": _pinfl("5021110011047"), "surname": "Ergashev", "given_name": "Timur", "patronymic": None,
     "birth_date": "2010-11-02", "sex": "male"},
)


async def patients(clinic: DemoClinic) -> str:
    """Register the demo patient and three others; stop if the demo patient's card has entries."""
    registered = present = 0
    for person in (clinic.patient, *OTHERS):
        status, _ = await clinic.request("POST", f"{MC}/patients", person, "doctor")
        if status == 409:
            present += 1
        elif status in (200, 201):
            registered += 1
        else:
            raise DemoRefused(f"registering patient {person['pinfl']} answered {status}")
    found = await clinic.call("GET", f"{MC}/patients?pinfl={clinic.patient['pinfl']}", None, "doctor", 200)
    pid = found[0]["id"]
    clinic.state["patient_id"] = pid
    if (await clinic.call("GET", f"{MC}/patients/{pid}/entries?limit=1", None, "doctor", 200))["items"]:
        clinic.stop("the demo patient's card already has entries")
    return f"patients {registered} registered, {present} already there"


DEMO = DemoData(facility_kinds=("polyclinic", "hospital", "pharmacy"),
                steps=(DemoStep(order=10, run=patients),))
