"""What a transaction Bundle reads: its subject Patient once per Bundle, not once per entry.

An examination sent as FHIR (a Condition and three vital signs of one patient) reads the patient
as the native examination route does: once. Counted as in
:mod:`tests.medcard.test_examination_round_trips`, where the statements leave the process; a read
of the patient is a statement selecting FROM the card's patients table (an entry read back joins it,
and is not one). Each entry still names its own patient, and an unknown one still refuses the whole."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.fhir.test_transaction import (
    _seed,
    condition,
    post,
    pressure,
    pulse,
    qty,
    responded,
    transaction,
    vital,
)
from tests.fhir.test_transaction import where as expressions
from tests.medcard.card import VALID, new_patient, settings_for
from tests.medcard.test_examination_round_trips import counted
from tests.support import login, serving

_READS_PATIENT = re.compile(r"\bFROM\s+medcard_patients\b", re.IGNORECASE)


def patient_reads(sent: list[str]) -> int:
    return sum(bool(_READS_PATIENT.search(s)) for s in sent)


def subjects(r: Any) -> list[str]:
    return [e["resource"]["subject"]["reference"] for e in responded(r)]


async def test_a_bundle_reads_its_patient_once(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(db_url)
    await _seed(settings)
    async with serving(settings) as client:
        doctor = await login(client, "doctor")
        pid = await new_patient(client, doctor)
        other = await new_patient(client, doctor, pinfl="40101990000011", given_name="Dilnoza",
                                  sex="female", birth_date="1999-01-01")

        def exam(p: str) -> list[dict[str, Any]]:
            return [condition(p), pressure(p), pulse(p), vital(p, "8310-5", valueQuantity=qty(36.6, "Cel"))]

        responded(await post(client, transaction(*exam(pid)), doctor))  # warm
        with counted(monkeypatch) as sent:
            r = await post(client, transaction(*exam(pid)), doctor)
        assert subjects(r) == [f"Patient/{pid}"] * 4
        assert patient_reads(sent) == 1, sent
        assert {e["resource"]["subject"]["display"] for e in responded(r)} == {
            f"{VALID['surname']} {VALID['given_name']} {VALID['patronymic']}"}

        # two patients in turn: each read once, and each entry answers with its own
        with counted(monkeypatch) as mixed:
            r2 = await post(client, transaction(pulse(pid), pulse(other), pulse(pid, 80), pulse(other, 90)), doctor)
        assert subjects(r2) == [f"Patient/{pid}", f"Patient/{other}"] * 2
        assert patient_reads(mixed) == 2, mixed

        # an unknown patient after a known one still refuses the whole Bundle, naming its entry
        nobody = pulse("01900000-0000-7000-8000-0000000000ff")
        assert expressions(await post(client, transaction(*exam(pid)[:2], nobody), doctor), 404) == [
            "Bundle.entry[2].resource.subject"]
