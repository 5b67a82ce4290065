"""Access as docs/fhir.md says: a pharmacist reads through FHIR the prescriptions the native
dispensing search shows her (a patient's active ones, any one by its number; no diagnosis) and
never the card; the directory is open to every clinical role; ``shifo routes`` lists who really
reaches each FHIR type."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.medicationrequest import MedicationRequest

from core.canonical import canonical_json
from host import cli
from tests.clinical import MEDCARD, PATIENT, RX, _ok, prescribe, seed, settings_for, sign, signer_for
from tests.support import login, serving

NUMBER = "urn:shifo:erecipe:prescription-number"


def entries(r: Any) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    return [e["resource"] for e in r.json().get("entry", [])]


async def test_pharmacist_reads_what_she_may_dispense_as_the_native_api(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path / "keys")
    await seed(settings, patient_account=True)
    signer = signer_for(settings)
    async with serving(settings) as client:
        doc, ph, me = [await login(client, u) for u in ("doctor", "pharmacist", "patient")]
        doc["X-Facility"] = ph["X-Facility"] = "F1"
        pid = _ok(await client.post(f"{MEDCARD}/patients", json=PATIENT, headers=doc))["id"]
        live = await prescribe(client, signer, doc, PATIENT["pinfl"])
        gone = await prescribe(client, signer, doc, PATIENT["pinfl"])
        content = canonical_json({"action": "cancel", "number": gone["number"], "reason": "allergy"})
        r = await client.post(f"{RX}/prescriptions/{gone['id']}/cancel", headers=doc, json={
            "reason": "allergy", "signature": await sign(signer, content, "doctor")})
        assert r.status_code == 200, r.text

        of_patient = f"/fhir/MedicationRequest?patient=Patient/{pid}"
        found = entries(await client.get(of_patient, headers=ph))  # was a 403
        assert [m["id"] for m in found] == [f"{live['id']}-1"]  # active only, as the native search
        assert "reason" not in found[0]  # no diagnosis, as the native pharmacist's view
        MedicationRequest.model_validate(found[0])
        by_number = entries(await client.get(f"/fhir/MedicationRequest?identifier={NUMBER}|{gone['number']}",
                                             headers=ph))
        assert [(m["id"], m["status"]) for m in by_number] == [(f"{gone['id']}-1", "cancelled")]
        read = await client.get(f"/fhir/MedicationRequest/{live['id']}-1", headers=ph)
        assert read.status_code == 200 and "reason" not in read.json()
        assert (await client.get(f"/fhir/Condition?patient=Patient/{pid}", headers=ph)).status_code == 403

        full = entries(await client.get(of_patient, headers=doc))  # the prescriber's provider, whole
        assert sorted(m["id"] for m in full) == sorted([f"{live['id']}-1", f"{gone['id']}-1"])
        assert all(m["reason"][0]["concept"]["coding"][0]["code"] == "I10" for m in full)
        own = entries(await client.get("/fhir/MedicationRequest", headers=me))
        assert sorted(m["id"] for m in own) == sorted(m["id"] for m in full)  # each once, not per provider

        for who in (doc, ph):
            assert entries(await client.get("/fhir/Practitioner", headers=who))  # the directory is open
            assert entries(await client.get("/fhir/Organization", headers=who))


def test_routes_list_who_reaches_each_fhir_type(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    for name in [n for n in os.environ if n.startswith("SHIFO_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SHIFO_MODULES", "medcard,erecipe")
    assert cli.main(["routes", "--json"]) == 0
    routes = {(r["methods"][0], r["path"]): r for r in json.loads(capsys.readouterr().out)}
    practitioner = routes[("GET", "/fhir/Practitioner")]
    assert practitioner["who"] == "doctor, nurse, pharmacist, resident, patient (own record)"
    requests = routes[("GET", "/fhir/MedicationRequest/{rid:str}")]
    assert requests["permission"] == "erecipe.prescription/read | erecipe.dispensing/read"
    assert requests["who"] == "doctor, nurse, pharmacist, resident, patient (own record)"
    assert "pharmacist" not in routes[("GET", "/fhir/Condition")]["who"]
