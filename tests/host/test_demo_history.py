"""``shifo demo`` records a clinical history for the demo patient: after ``shifo serve`` delivers
the seed's events, the patient app shows it, every FHIR type the server lists has a valid
resource on demo data, and a second seed adds nothing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from fhir.resources import get_fhir_model_class

from host.demo import PATIENT_PINFL
from host.settings import Settings
from tests.clinical import until
from tests.fhir.uz_core.fsh import broken_claims
from tests.support import serving

CARD_KINDS = {"indicator", "diagnosis", "lab", "instrumental", "complaint", "finding"}


def shifo(cwd: Path, db_url: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """The CLI in ``cwd`` (so the accounts file and the dev keys land under ``cwd/var``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFO_") and k != "PORT"}
    out = subprocess.run([sys.executable, "-m", "host.cli", *args], cwd=cwd, capture_output=True, text=True,
                         timeout=180, env={**env, "SHIFO_DATABASE_URL": db_url, **extra})
    assert out.returncode == 0, out.stderr
    return out


def history_line(stdout: str) -> str:
    """The line saying what the modules' demo steps recorded (hook ``shifo_demo_data``)."""
    return next(line for line in stdout.splitlines() if line.startswith(f"Demo data of patient {PATIENT_PINFL}"))


async def get(client: Any, url: str, headers: dict[str, str]) -> Any:
    r = await client.get(url, headers=headers)
    assert r.status_code == 200, (url, r.text)
    return r.json()


def valid_bundle(found: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate the Bundle and each entry's resource with the R5 models, and against the UZ Core
    profiles it claims; return the resources."""
    get_fhir_model_class("Bundle").model_validate(found)
    resources = [e["resource"] for e in found.get("entry", [])]
    for resource in resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert broken_claims(resource) == [], (resource["resourceType"], resource["id"])
    return resources


async def sign_in(client: Any, tmp_path: Path) -> dict[str, dict[str, str]]:
    accounts = json.loads((tmp_path / "var" / "demo-accounts.json").read_text())
    tokens = {}
    for a in accounts:
        r = await client.post("/api/v1/auth/login", json={"login": a["login"], "password": a["password"]})
        assert r.status_code == 200, r.text
        tokens[a["login"]] = {"Authorization": f"Bearer {r.json()['access_token']}",
                              **({"X-Facility": a["facility"]} if a["facility"] else {})}
    return tokens


async def timeline(client: Any, doctor: dict[str, str]) -> list[dict[str, Any]]:
    """The demo patient's merged timeline: card entries and the other modules' records."""
    pid = (await get(client, f"/api/v1/medcard/patients?pinfl={PATIENT_PINFL}", doctor))[0]["id"]
    page = await get(client, f"/api/v1/medcard/patients/{pid}/entries?limit=200", doctor)
    assert page["next"] is None
    return list(page["items"])


async def every_fhir_type_has_valid_resources(client: Any, who: dict[str, dict[str, str]], pid: str) -> None:
    """Each type ``/fhir/metadata`` lists, searched by the patient (their compartment) and by the
    staff of each demo facility (403 where a role or facility may not read it): every Bundle and
    resource valid R5, at least one resource per type; ``Patient/$everything`` too."""
    me = who["patient"]
    metadata = await get(client, "/fhir/metadata", {})
    served = {r["type"]: {p["name"] for p in r.get("searchParam", [])} for r in metadata["rest"][0]["resource"]}
    assert {"Practitioner", "PractitionerRole", "Organization", "AuditEvent", "Patient", "Condition",
            "Observation", "Encounter", "MedicationRequest", "MedicationDispense"} <= set(served)
    found: dict[str, set[str]] = {}
    for type_, params in sorted(served.items()):
        query = f"?patient={pid}" if "patient" in params and type_ != "AuditEvent" else ""
        for headers in (me, who["doctor"], who["resident"], who["pharmacist"]):
            r = await client.get(f"/fhir/{type_}{'' if headers is me else query}", headers=headers)
            if r.status_code == 403 and headers is not me:
                continue  # this role or facility may not read the type: another one may
            assert r.status_code == 200, (type_, r.text)
            assert r.json()["type"] == "searchset"
            found.setdefault(type_, set()).update(res["id"] for res in valid_bundle(r.json()))
    empty = sorted(t for t in served if not found.get(t))
    assert not empty, f"no resource on demo data for {empty}"
    for headers in (who["doctor"], me):
        every = valid_bundle(await get(client, f"/fhir/Patient/{pid}/$everything?_count=100", headers))
        kinds = {r["resourceType"] for r in every}
        assert {"Patient", "Condition", "Observation", "Encounter", "MedicationRequest"} <= kinds, kinds


async def test_demo_seed_records_a_history_that_serves_everywhere(db_url: str, tmp_path: Path) -> None:
    await asyncio.to_thread(shifo, tmp_path, db_url, "migrate")
    first = history_line((await asyncio.to_thread(shifo, tmp_path, db_url, "demo")).stdout)
    assert "stopped" not in first and "skipped" not in first, first
    for done in ("patients 4 registered", "a visit with 11 card entries (I10)", "signed", "the visit closed",
                 "a hospital stay", "10 of its 30 tablets dispensed"):
        assert done in first, first
    settings = Settings(database_url=db_url, relay_poll_seconds=0.1,
                        signature_dev_keys_dir=str(tmp_path / "var" / "dev-keys"))

    async with serving(settings) as client:
        who = await sign_in(client, tmp_path)
        me, doctor = who["patient"], who["doctor"]
        # shifo serve delivers the seed's events at start: the visit and stay cards fill in
        visits = await until(lambda: get(client, "/api/v1/patient/visits", me))
        assert [(v["status"], v["final_diagnosis"]) for v in visits] == [("closed", "I10")]
        visit_card = await get(client, f"/api/v1/patient/visits/{visits[0]['id']}/card", me)
        assert len(visit_card["indicators"]) == 6 and len(visit_card["results"]) == 2
        assert [d["summary"]["icd10"] for d in visit_card["diagnoses"]] == ["I10"]
        assert len(visit_card["complaints"]) == len(visit_card["findings"]) == 1
        assert len(visit_card["prescriptions"]) == 1
        stays = await until(lambda: get(client, "/api/v1/patient/stays", me))
        assert [(s["status"], s["outcome"]) for s in stays] == [("discharged", "improved")]

        async def stay_card() -> Any:
            found = await get(client, f"/api/v1/patient/stays/{stays[0]['id']}/card", me)
            return found if len(found["indicators"]) == 6 else None
        assert len((await until(stay_card))["transfers"]) == 1

        card = await get(client, "/api/v1/patient/card", me)
        assert [(d["icd10"], d["verification"]) for d in card["diagnoses"]] == [("I10", "confirmed")]
        vitals = {s["name"]: s for s in card["latest_indicators"]}
        assert {"blood_pressure", "pulse", "temperature", "weight", "height"} <= set(vitals)
        assert vitals["blood_pressure"]["points"][-1]["systolic"] == 128  # the last reading, at the hospital
        assert {(r["kind"], r["flag"]) for r in card["results"]} == {("lab", "H"), ("instrumental", None)}

        [rx] = await get(client, "/api/v1/patient/prescriptions", me)
        assert rx["status"] == "partially_dispensed" and rx["valid"]
        assert [line["remaining"] for line in rx["lines"]] == [20]
        assert [(d["pharmacy"], d["items"][0]["quantity"]) for d in rx["dispenses"]] == [("pharm-01", 10)]

        pid = (await get(client, f"/api/v1/medcard/patients?pinfl={PATIENT_PINFL}", doctor))[0]["id"]
        await every_fhir_type_has_valid_resources(client, who, pid)
        records = [("inpatient_stay", "discharged"), ("outpatient_visit", "closed"),
                   ("prescription", "partially_dispensed")]

        async def records_in() -> Any:  # the card's module records, from the events delivered
            items = await timeline(client, doctor)
            held = sorted((i["kind"], i["status"]) for i in items if i["item"] == "record")
            return items if held == records else None
        before = await until(records_in)
        assert len([i for i in before if i["kind"] in CARD_KINDS]) == 17  # 11 at the visit, 6 at the hospital

    second = history_line((await asyncio.to_thread(shifo, tmp_path, db_url, "demo")).stdout)
    assert "already has entries" in second
    async with serving(settings) as client:
        who = await sign_in(client, tmp_path)
        assert await timeline(client, who["doctor"]) == before
        assert len(await get(client, "/api/v1/patient/prescriptions", who["patient"])) == 1


async def test_without_every_module_the_history_is_skipped_and_said_so(db_url: str, tmp_path: Path) -> None:
    modules = {"SHIFO_MODULES": "medcard,erecipe"}
    await asyncio.to_thread(shifo, tmp_path, db_url, "migrate", **modules)
    out = (await asyncio.to_thread(shifo, tmp_path, db_url, "demo", **modules)).stdout
    assert history_line(out) == (f"Demo data of patient {PATIENT_PINFL}: medicines register: 44 products "
                                 "loaded; patients 4 registered, 0 already there; erecipe's steps skipped "
                                 "(they need the polyclinic module).")
