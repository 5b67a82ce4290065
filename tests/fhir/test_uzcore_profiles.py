"""Shifo's FHIR resources meet the UZ Core profiles they claim, rule by rule as the national guide's
FSH writes them (copied in ``tests/fhir/uz_core``): fixed values, cardinalities, slices and required
bindings, on one clinical history recorded through the native API and read back through ``/fhir``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fhir.resources import get_fhir_model_class

from core.clock import utcnow
from host.pluginapi import uz_core
from tests.clinical import MEDCARD, STAFF, build_history, seed, settings_for, signer_for
from tests.fhir.uz_core.fsh import Checker, Guide
from tests.support import serving

GUIDE = Guide()
#: the guide's PINFL system in the copied FSH version (the setting's default is the later one)
PINFL_SYSTEM = GUIDE.aliases["$nationaluniqueID"]
CLAIMED = {"Patient": "uz-core-patient", "Practitioner": "uz-core-practitioner",
           "PractitionerRole": "uz-core-practitioner-role", "Organization": "uz-core-organization",
           "Encounter": "uz-core-encounter", "Observation": "uz-core-observation",
           "Condition": "uz-core-clinical-condition", "AuditEvent": "uz-core-auditevent"}
PROFILES = {GUIDE.profiles[p].url: Checker(GUIDE, p) for p in CLAIMED.values()}


def claims(resource: dict[str, Any]) -> list[str]:
    """The UZ Core profiles a resource claims, after checking it is valid R5."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return [p for p in resource.get("meta", {}).get("profile", []) if p.startswith(uz_core(""))]


async def resources(client: Any, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = await client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    return [e["resource"] for e in r.json().get("entry", [])]


def test_the_reader_finds_broken_rules() -> None:
    """Each kind of rule can fail: a slice's fixed type, a required binding, a cardinality."""
    patient = {"resourceType": "Patient", "identifier": [{"system": PINFL_SYSTEM, "value": "1", "use": "usual",
                                                          "type": {"coding": [{"code": "PPN"}]}}]}
    broken = PROFILES[uz_core("uz-core-patient")].check(patient)
    assert any(b.startswith("identifier[nationalId].type") for b in broken), broken
    assert any(b.startswith("identifier[nationalId].use") for b in broken), broken
    assert PROFILES[uz_core("uz-core-patient")].check({"resourceType": "Patient"}) == [
        "identifier: 0 not in 1..*"]
    encounter = {"resourceType": "Encounter", "status": "in-progress", "class": [{"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "FLD"}]}],
        "location": [{"period": {"start": "2025-01-01"}}]}
    assert sorted(b.split(":")[0] for b in PROFILES[uz_core("uz-core-encounter")].check(encounter)) == [
        "class", "location.location"]
    role = {"resourceType": "AuditEvent", "agent": [{"role": [{"text": "doctor"}]}]}
    assert [b.split(":")[0] for b in PROFILES[uz_core("uz-core-auditevent")].check(role)] == ["agent.role"]


async def test_resources_meet_the_profiles_they_claim(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path / "keys", fhir_pinfl_system=PINFL_SYSTEM)
    staff = await seed(settings)
    async with serving(settings) as client:
        ids = await build_history(client, signer_for(settings))
        doc, pid = ids["headers"]["doctor"], ids["patient_id"]
        doc = {**doc, "X-Facility": "F1"}
        r = await client.post(f"{MEDCARD}/patients/{pid}/lab-results", headers=doc,
                              json={"test": "Bedside glucose strip", "value": 5.1,
                                    "performed_at": utcnow().isoformat()})
        assert r.status_code == 201, r.text
        found = await resources(client, f"/fhir/Patient?identifier={PINFL_SYSTEM}|{ids['pinfl']}", doc)
        for type_ in ("Condition", "Observation", "Encounter", "Provenance", "MedicationRequest"):
            found += await resources(client, f"/fhir/{type_}?patient={pid}", doc)
        for type_ in ("Organization", "Practitioner", "PractitionerRole", "AuditEvent"):
            found += await resources(client, f"/fhir/{type_}?_count=100", doc)
        by_pinfl = await resources(client, f"/fhir/Practitioner?identifier={PINFL_SYSTEM}|{STAFF['doctor']}", doc)

    checked: dict[str, int] = {}
    for resource in found:
        claimed = claims(resource)
        for url in claimed:
            broken = PROFILES[url].check(resource)
            assert broken == [], (resource["resourceType"], resource["id"], broken)
            checked[resource["resourceType"]] = checked.get(resource["resourceType"], 0) + 1
        if resource["resourceType"] in CLAIMED and resource["resourceType"] != "AuditEvent":
            lab_without_loinc = (resource["resourceType"] == "Observation"
                                 and resource["code"].get("text") == "Bedside glucose strip")
            assert claimed == ([] if lab_without_loinc else [uz_core(CLAIMED[resource["resourceType"]])]), (
                resource["resourceType"], resource["id"])
    assert set(checked) == set(CLAIMED), checked
    assert checked["Observation"] == 3 and checked["Encounter"] == 2 and checked["Condition"] == 1
    assert not any(claims(r) for r in found if r["resourceType"] in ("Provenance", "MedicationRequest"))

    # the PINFL sits in the guide's nationalId slice, in the configured system, for patient and staff
    by_type = {t: [r for r in found if r["resourceType"] == t] for t in CLAIMED}
    patient_check = PROFILES[uz_core("uz-core-patient")]
    [national] = patient_check.select(by_type["Patient"][0], "identifier[nationalId]")
    assert national["value"] == ids["pinfl"] and national["type"]["coding"][0]["code"] == "NI"
    doctor = next(r for r in by_type["Practitioner"] if r["id"] == str(staff["doctor"]))
    assert [(i["system"], i["use"]) for i in doctor["identifier"]] == [(PINFL_SYSTEM, "official")]
    assert [r["id"] for r in by_pinfl] == [doctor["id"]]  # the identifier search takes the same system
    # the hospital's codes come from the guide's required value sets; a clinician's event claims AuditEvent
    stay = next(r for r in by_type["Encounter"] if r["id"] == ids["stay_id"])
    assert stay["admission"]["dischargeDisposition"]["coding"][0]["code"] == "home"
    events = [r for r in by_type["AuditEvent"] if claims(r)]
    assert {e["agent"][0]["role"][0]["text"] for e in events} >= {"doctor", "nurse"}
    assert {c["code"] for e in events for c in e["code"]["coding"][:1]} >= {"read", "search", "create"}
