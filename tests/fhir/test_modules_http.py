"""The modules' resources through the host's FHIR facade: searchset Bundles valid R5, holding
every module's resources for the patient; a patient account sees its own record only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fhir.resources import get_fhir_model_class

from tests.clinical import build_history, seed, settings_for, signer_for
from tests.support import login, serving

TYPES = {"Patient": 1, "Condition": 1, "Observation": 3, "DiagnosticReport": 1, "Encounter": 2,
         "MedicationRequest": 1, "MedicationDispense": 1, "Provenance": 2}


async def bundle(client: Any, url: str, headers: dict[str, str]) -> dict[str, Any]:
    r = await client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    found = r.json()
    get_fhir_model_class("Bundle").model_validate(found)
    assert found["type"] == "searchset"
    for entry in found.get("entry", []):
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    return dict(found)


def kinds(found: dict[str, Any]) -> list[str]:
    return [e["resource"]["resourceType"] for e in found.get("entry", [])]


async def test_module_resources_through_the_facade(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path / "keys")
    await seed(settings, patient_account=True)
    async with serving(settings) as client:
        ids = await build_history(client, signer_for(settings))
        doc, pid = ids["headers"]["doctor"], ids["patient_id"]
        for type_, count in TYPES.items():
            query = f"identifier={ids['pinfl']}" if type_ == "Patient" else f"patient={pid}"
            found = await bundle(client, f"/fhir/{type_}?{query}", doc)
            assert kinds(found) == [type_] * count, (type_, kinds(found))
        hit = await bundle(client, f"/fhir/Observation?patient={pid}&code=http://loinc.org|85354-9", doc)
        assert [e["resource"]["id"] for e in hit["entry"]] == [ids["bp_id"]]
        r = await client.get(f"/fhir/Condition/{ids['diagnosis_id']}", headers=doc)
        assert r.status_code == 200 and r.json()["code"]["coding"][0]["code"] == "I10"
        r = await client.get(f"/fhir/MedicationRequest/{ids['rx_id']}-1", headers=doc)
        assert r.status_code == 200 and r.json()["status"] == "active"
        r = await client.get("/fhir/Encounter/not-an-id", headers=doc)
        assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"

        every = await bundle(client, f"/fhir/Patient/{pid}/$everything?_count=100", doc)
        assert sorted(kinds(every)) == sorted(t for t, n in TYPES.items() for _ in range(n))

        me = await login(client, "patient")
        own = await bundle(client, "/fhir/Condition", me)
        assert [e["resource"]["id"] for e in own["entry"]] == [ids["diagnosis_id"]]
        assert kinds(await bundle(client, "/fhir/Encounter", me)) == ["Encounter", "Encounter"]
