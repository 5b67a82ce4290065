"""The medical card's FHIR R5 resources, from a history recorded through the API: Patient,
Condition, Observation (vital signs and laboratory) and DiagnosticReport, each valid R5."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fhir.resources import get_fhir_model_class

from host.pluginapi import FhirItem, FhirQuery
from tests.clinical import (
    MEDCARD,
    build_history,
    fhir_providers,
    seed,
    settings_for,
    signer_for,
)
from tests.support import serving

PINFL_SYSTEM = "https://dhp.uz/fhir/core/sid/pid/uz/ni"  # the default of settings.fhir_pinfl_system


def valid(item: FhirItem) -> dict[str, Any]:
    """The resource, after the fhir.resources R5 model accepted it."""
    res = item.resource
    get_fhir_model_class(res["resourceType"]).model_validate(res)
    return res


async def _world(db_url: str, tmp_path: Path) -> tuple[Any, dict[str, Any]]:
    settings = settings_for(db_url, tmp_path / "keys")
    await seed(settings)
    async with serving(settings) as client:
        ids = await build_history(client, signer_for(settings))
        doc, base = ids["headers"]["doctor"], f"{MEDCARD}/patients/{ids['patient_id']}"
        pulse = {"code": "pulse", "value": 76, "performed_at": (await client.get(
            f"{base}/entries/{ids['pulse_id']}", headers=doc)).json()["performed_at"]}
        r = await client.post(f"{base}/indicators/{ids['pulse_id']}/versions", headers=doc,
                              json={"version": 1, "reason": "misread the monitor", "entry": pulse})
        assert r.status_code in (200, 201), r.text
        wrong = await client.post(f"{base}/diagnoses", headers=doc, json={
            "code": "J06.9", "rank": "secondary", "verification": "provisional",
            "performed_at": pulse["performed_at"]})
        assert wrong.status_code == 201, wrong.text
        ids["wrong_id"] = wrong.json()["id"]
        r = await client.post(f"{base}/diagnoses/{ids['wrong_id']}/entered-in-error", headers=doc,
                              json={"version": 1, "reason": "wrong patient"})
        assert r.status_code in (200, 201), r.text
        for name, body in (("critical_id", {"test": "Sodium", "loinc": "2951-2", "value": 110,
                                             "reference_low": 135, "reference_high": 145}),
                           ("order_id", {"test": "HbA1c"})):
            r = await client.post(f"{base}/lab-results", headers=doc,
                                  json={**body, "performed_at": pulse["performed_at"]})
            assert r.status_code == 201, r.text
            ids[name] = r.json()["id"]
    return settings, ids


async def test_patient_condition_observation_report(db_url: str, tmp_path: Path) -> None:
    settings, ids = await _world(db_url, tmp_path)
    pinfl, pid = ids["pinfl"], ids["patient_id"]
    async with fhir_providers(settings) as (req, res):
        # Patient: the card's id, the PINFL as the official NI identifier, the patronymic a suffix
        patient = res["Patient"]
        got = await patient.read(req, pid)
        assert got is not None and got.patient == pinfl
        p = valid(got)
        assert p["id"] == pid and p["birthDate"] == "1997-11-02" and p["gender"] == "male"
        assert p["identifier"][0]["system"] == PINFL_SYSTEM and p["identifier"][0]["value"] == pinfl
        assert p["identifier"][0]["type"]["coding"][0]["code"] == "NI"
        assert p["name"][0]["family"] == "Usmonov" and p["name"][0]["given"] == ["Salim"]
        assert p["name"][0]["suffix"] == ["Saliyevich"]
        for token in (f"{PINFL_SYSTEM}|{pinfl}", pinfl):
            assert [i.resource["id"] for i in await patient.search(req, FhirQuery(identifier=token))] == [pid]
        assert await patient.search(req, FhirQuery(identifier=f"urn:other|{pinfl}")) == []
        assert await patient.search(req, FhirQuery(identifier="30211975910034")) == []
        assert await patient.search(req, FhirQuery()) == []  # never a bare list of everyone
        assert await patient.search(req, FhirQuery(identifier=f"{PINFL_SYSTEM}|")) == []
        assert [i.resource["id"] for i in await patient.search(req, FhirQuery(patient=pinfl))] == [pid]
        for bad in ("not-a-uuid", "", "00000000-0000-0000-0000-000000000000", "1" * 500, pid.upper(),
                    pid.replace("-", ""), f"urn:uuid:{pid}"):
            assert await patient.read(req, bad) is None

        # Condition: the ICD-10 diagnosis of the visit; the one entered in error says so
        cond = res["Condition"]
        conditions = {i.resource["id"]: valid(i) for i in await cond.search(req, FhirQuery(patient=pinfl))}
        assert set(conditions) == {ids["diagnosis_id"], ids["wrong_id"]}
        c = conditions[ids["diagnosis_id"]]
        assert c["code"]["coding"][0] == {"system": "http://hl7.org/fhir/sid/icd-10", "code": "I10",
                                          "display": "Essential (primary) hypertension"}
        assert c["verificationStatus"]["coding"][0]["code"] == "confirmed"
        assert c["clinicalStatus"]["coding"][0]["code"] == "active"
        assert c["category"][0]["coding"][0]["code"] == "encounter-diagnosis"
        assert c["subject"]["reference"] == f"Patient/{pid}" and c["encounter"]["reference"] == \
            f"Encounter/{ids['visit_id']}"
        assert c["note"] == [{"text": "new onset"}]
        w = conditions[ids["wrong_id"]]
        assert w["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
        assert w["meta"]["versionId"] == "2"
        icd = await cond.search(req, FhirQuery(patient=pinfl, code="http://hl7.org/fhir/sid/icd-10|I10"))
        assert [i.resource["id"] for i in icd] == [ids["diagnosis_id"]]
        assert await cond.search(req, FhirQuery(patient=pinfl, code="http://loinc.org|I10")) == []
        live = await cond.search(req, FhirQuery(patient=pinfl, status="confirmed"))
        assert [i.resource["id"] for i in live] == [ids["diagnosis_id"]]
        gone = await cond.search(req, FhirQuery(patient=pinfl, status="entered-in-error"))
        assert [i.resource["id"] for i in gone] == [ids["wrong_id"]]
        assert await cond.search(req, FhirQuery(patient="30211975910034")) == []
        assert await cond.read(req, ids["lab_id"]) is None  # a lab result is no Condition
        assert await cond.read(req, "x") is None
        await _observations(req, res, ids)
        await _report(req, res, ids)


async def _observations(req: Any, res: dict[str, Any], ids: dict[str, Any]) -> None:
    obs, pinfl = res["Observation"], ids["pinfl"]
    items = await obs.search(req, FhirQuery(patient=pinfl))
    found = {i.resource["id"]: valid(i) for i in items}
    assert set(found) == {ids["bp_id"], ids["pulse_id"], ids["lab_id"], ids["critical_id"],
                          ids["order_id"]}  # one per entry, current versions only
    assert all(i.patient == pinfl for i in items)
    bp = found[ids["bp_id"]]
    assert bp["code"]["coding"][0]["code"] == "85354-9" and bp["status"] == "final"
    assert bp["category"][0]["coding"][0]["code"] == "vital-signs"
    assert "http://hl7.org/fhir/StructureDefinition/vitalsigns" in bp["meta"]["profile"]
    assert "http://hl7.org/fhir/StructureDefinition/bp" in bp["meta"]["profile"]
    parts = {c["code"]["coding"][0]["code"]: c["valueQuantity"] for c in bp["component"]}
    assert parts["8480-6"] == {"value": 150, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org",
                               "code": "mm[Hg]"}
    assert parts["8462-4"]["value"] == 95
    pulse = found[ids["pulse_id"]]
    assert pulse["valueQuantity"]["value"] == 76 and pulse["meta"]["versionId"] == "2"  # the correction
    assert pulse["code"]["coding"][0]["code"] == "8867-4" and pulse["valueQuantity"]["code"] == "/min"
    lab = found[ids["lab_id"]]
    assert lab["category"][0]["coding"][0]["code"] == "laboratory"
    assert lab["code"]["coding"][0] == {"system": "http://loinc.org", "code": "2823-3",
                                        "display": "Potassium [Moles/volume] in Serum or Plasma"}
    assert lab["valueQuantity"]["value"] == 5.8 and lab["valueQuantity"]["code"] == "mmol/L"
    assert lab["referenceRange"][0]["low"]["value"] == 3.5 and lab["referenceRange"][0]["high"]["value"] == 5.1
    assert lab["interpretation"][0]["coding"][0]["code"] == "H"
    assert lab["interpretation"][0]["coding"][0]["system"] == \
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    critical = found[ids["critical_id"]]
    assert critical["interpretation"][0]["coding"][0]["code"] == "LL"
    order = found[ids["order_id"]]
    assert order["status"] == "registered" and order["code"] == {"text": "HbA1c"}
    assert "valueQuantity" not in order and "interpretation" not in order
    waiting = await obs.search(req, FhirQuery(patient=pinfl, status="registered"))
    assert [i.resource["id"] for i in waiting] == [ids["order_id"]]
    assert len(await obs.search(req, FhirQuery(patient=pinfl, status="final"))) == 4
    by_code = await obs.search(req, FhirQuery(patient=pinfl, code="http://loinc.org|85354-9"))
    assert [i.resource["id"] for i in by_code] == [ids["bp_id"]]
    assert [i.resource["id"] for i in await obs.search(req, FhirQuery(patient=pinfl, code="2823-3"))] == \
        [ids["lab_id"]]
    assert len(await obs.search(req, FhirQuery(patient=pinfl, limit=2))) == 2
    assert await obs.search(req, FhirQuery(patient=pinfl, status="entered-in-error")) == []
    read = await obs.read(req, ids["bp_id"])
    assert read is not None and read.resource == bp
    assert await obs.read(req, ids["diagnosis_id"]) is None


async def _report(req: Any, res: dict[str, Any], ids: dict[str, Any]) -> None:
    rep = res["DiagnosticReport"]
    got = await rep.read(req, ids["ecg_id"])
    assert got is not None
    r = valid(got)
    assert r["status"] == "final" and r["category"][0]["coding"][0]["code"] == "EC"
    assert r["code"]["coding"][0]["code"] == "11524-6" and r["code"]["text"] == "12-lead ECG"
    assert r["conclusion"] == "Sinus rhythm, left ventricular hypertrophy."
    assert r["note"] == [{"text": "SV1 + RV5 = 38 mm."}]
    assert r["presentedForm"] == [{"contentType": "application/pdf", "url": "https://pacs.example/ecg/1",
                                   "title": "ECG trace"}]
    assert r["contained"][0]["valueQuantity"]["value"] == 412 and r["result"][0]["reference"] == "#m1"
    assert [i.resource["id"] for i in await rep.search(req, FhirQuery(patient=ids["pinfl"], code="ecg"))] == \
        [ids["ecg_id"]]
    assert await rep.search(req, FhirQuery(patient=ids["pinfl"], code="http://loinc.org|18751-8")) == []
