"""Recording and reading doses over HTTP, as clinicians and the patient do (SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from core.errors import ConfigurationError
from host.settings import Settings
from host.testing.deployment import pinfl, prepare, sign_in
from host.web.app import create_app

PATIENT = {"pinfl": "30211975910033", "surname": "Usmonov", "given_name": "Salim",
           "patronymic": "Saliyevich", "birth_date": "1997-11-02", "sex": "male"}
API = "/api/v1/immunization"
FAST = {"identity": {"hashing": {"time_cost": 1, "memory_cost": 8192, "parallelism": 1}}}


def settings_for(tmp_path: Path, **extra: Any) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'imm.db'}", run_relay=False,
                    modules=("medcard", "immunization"), signature_dev_keys_dir=str(tmp_path / "keys"),
                    extra={**FAST, **extra})


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Any, dict[str, dict[str, str]], str]]:
    settings = settings_for(tmp_path, immunization={"vaccines": {"COVID": "COVID-19"}})
    await prepare(settings, facilities={"F1": ("medcard", "immunization"), "F2": ("medcard",)},
                  staff={"doctor": {"F1": ["doctor"], "F2": ["doctor"]}, "nurse": {"F1": ["nurse"]},
                         "resident": {"F1": ["resident"]}, "pharmacist": {"F1": ["pharmacist"]}},
                  patients={"patient": PATIENT["pinfl"], "other": pinfl(5)})
    async with AsyncTestClient(create_app(settings)) as client:
        who = {login: {**await sign_in(client, login), "X-Facility": "F1"}
               for login in ("doctor", "nurse", "resident", "pharmacist", "patient", "other")}
        r = await client.post("/api/v1/medcard/patients", json=PATIENT, headers=who["doctor"])
        assert r.status_code == 201, r.text
        yield client, who, r.json()["id"]


def dose(vaccine: str = "HEPB", number: int = 1, given_on: str = "1997-11-02",
         lot: str = "HB-97-11") -> dict[str, Any]:
    return {"vaccine": vaccine, "dose_number": number, "given_on": given_on, "lot": lot}


async def test_a_nurse_records_and_clinicians_and_the_patient_read(world: Any) -> None:
    client, who, pid = world
    r = await client.get(f"{API}/", headers=who["nurse"])
    assert r.status_code == 200 and r.json()["module"] == "immunization", r.text
    r = await client.post(f"{API}/patients/{pid}/doses", json=dose(), headers=who["nurse"])
    assert r.status_code == 201, r.text
    assert r.json()["vaccine_name"] == "Hepatitis B" and r.json()["facility"] == "F1"
    r = await client.post(f"{API}/patients/{pid}/doses", json=dose("COVID", 1, "2021-06-01", "C-21"),
                          headers=who["doctor"])
    assert r.status_code == 201, r.text  # a code the deployment's settings added
    for reader in ("doctor", "resident", "nurse"):
        r = await client.get(f"{API}/patients/{pid}/doses", headers=who[reader])
        assert r.status_code == 200 and [d["vaccine"] for d in r.json()] == ["HEPB", "COVID"], r.text
    r = await client.get("/api/v1/patient/immunizations", headers=who["patient"])
    assert r.status_code == 200 and [d["lot"] for d in r.json()] == ["HB-97-11", "C-21"], r.text
    r = await client.get("/api/v1/patient/immunizations", headers=who["other"])
    assert r.status_code == 200 and r.json() == []  # another patient sees nothing of it


async def test_only_doctors_and_nurses_record_and_pharmacists_see_nothing(world: Any) -> None:
    client, who, pid = world
    url = f"{API}/patients/{pid}/doses"
    assert (await client.post(url, json=dose(), headers=who["resident"])).status_code == 403
    assert (await client.get(url, headers=who["pharmacist"])).status_code == 403
    at_f2 = {**who["doctor"], "X-Facility": "F2"}  # a doctor where the module is not installed
    assert (await client.get(url, headers=at_f2)).status_code == 403


async def test_a_dose_is_recorded_once_and_must_be_plausible(world: Any) -> None:
    client, who, pid = world
    url = f"{API}/patients/{pid}/doses"
    assert (await client.post(url, json=dose(), headers=who["nurse"])).status_code == 201
    again = await client.post(url, json=dose(lot="OTHER-LOT"), headers=who["doctor"])
    assert again.status_code == 409 and again.headers["content-type"].startswith("application/problem+json")
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    for body, field in ((dose("XYZ"), "vaccine"), (dose(number=7), "dose_number"),
                        (dose(given_on=tomorrow), "given_on"), (dose(given_on="1990-01-01"), "given_on")):
        r = await client.post(url, json=body, headers=who["nurse"])
        assert r.status_code == 422 and field in r.text, (body, r.text)
    r = await client.post(url, json={**dose(), "lot": ""}, headers=who["nurse"])
    assert r.status_code in (400, 422), r.text
    r = await client.post(f"{API}/patients/00000000-0000-4000-8000-000000000000/doses", json=dose(),
                          headers=who["nurse"])
    assert r.status_code == 404, r.text
    r = await client.get(url, headers=who["doctor"])
    assert [(d["vaccine"], d["lot"]) for d in r.json()] == [("HEPB", "HB-97-11")]  # nothing else written


def test_a_bad_settings_section_stops_start_up(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as failed:
        create_app(settings_for(tmp_path, immunization={"max_dose_number": 0}))
    assert "immunization" in str(failed.value) and "max_dose_number" in str(failed.value)
