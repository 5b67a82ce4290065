"""The host's own FHIR types (Organization, Practitioner, PractitionerRole, AuditEvent) and
the CapabilityStatement, each checked against the R5 models."""

from __future__ import annotations

from fhir.resources.auditevent import AuditEvent
from fhir.resources.capabilitystatement import CapabilityStatement
from fhir.resources.organization import Organization
from fhir.resources.practitioner import Practitioner
from fhir.resources.practitionerrole import PractitionerRole

from tests.fhir.fake import plugins
from tests.fhir.world import FHIR_JSON, PA, UA, UB, auth, bundle, ids, outcome, pinfl, seed, settings_for
from tests.support import serving

SYSTEM = "https://example.org/sid/pinfl"


async def test_directory_types(db_url: str) -> None:
    settings = settings_for(db_url, fhir_pinfl_system=SYSTEM)
    await seed(settings)
    async with serving(settings, plugins()) as client:
        nurse = await auth(client, "nurse")
        orgs = bundle(await client.get("/fhir/Organization", headers=nurse))
        assert ids(orgs) == ["F1", "F2", "F3"] and orgs["total"] == 3
        f2 = (await client.get("/fhir/Organization/F2", headers=nurse)).json()
        assert Organization.model_validate(f2).name == "Facility F2"
        assert ids(bundle(await client.get("/fhir/Organization", params={"identifier": "urn:shifo:facility|F3"},
                                           headers=nurse))) == ["F3"]
        assert ids(bundle(await client.get("/fhir/Organization", params={"identifier": "urn:x|F3"},
                                           headers=nurse))) == []
        outcome(await client.get("/fhir/Organization/F9", headers=nurse), 404)

        people = bundle(await client.get("/fhir/Practitioner", headers=nurse))
        names = {e["resource"]["name"][0]["text"] for e in people["entry"]}
        assert names == {"Doctor", "Nurse", "Pharmacist", "Registrar", "Doctor2", "Nurse2"}  # staff only
        doctor_pinfl = pinfl(1)
        found = bundle(await client.get("/fhir/Practitioner", params={"identifier": f"{SYSTEM}|{doctor_pinfl}"},
                                        headers=nurse))
        assert [e["resource"]["name"][0]["text"] for e in found["entry"]] == ["Doctor"]
        doctor_id = ids(found)[0]
        doc = (await client.get(f"/fhir/Practitioner/{doctor_id}", headers=nurse)).json()
        Practitioner.model_validate(doc)
        assert [(i["system"], i["value"], i["type"]["coding"][0]["code"]) for i in doc["identifier"]] == [
            (SYSTEM, doctor_pinfl, "NI")]

        roles = bundle(await client.get("/fhir/PractitionerRole", params={"code": "doctor"}, headers=nurse))
        assert len(roles["entry"]) == 2
        role = next(e["resource"] for e in roles["entry"]
                    if e["resource"]["practitioner"]["reference"] == f"Practitioner/{doctor_id}")
        PractitionerRole.model_validate(role)
        assert role["organization"] == {"reference": "Organization/F1"} and role["active"] is True
        assert (await client.get(f"/fhir/PractitionerRole/{role['id']}", headers=nurse)).json() == role

        outcome(await client.get("/fhir/Organization", headers=await auth(client, "registrar")), 403)
        # a patient reads the directory, but not a practitioner's PINFL
        patient = await auth(client, "patient_a")
        seen = (await client.get(f"/fhir/Practitioner/{doctor_id}", headers=patient)).json()
        assert seen["name"] == doc["name"] and "identifier" not in seen
        assert ids(bundle(await client.get("/fhir/Practitioner", params={"identifier": doctor_pinfl},
                                           headers=patient))) == []
        pat = (await client.get(f"/fhir/Patient/{UA}", headers=nurse)).json()
        assert pat["identifier"] == [{"system": SYSTEM, "value": PA}]


async def test_audit_events(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings, plugins()) as client:
        doctor, doctor2 = await auth(client, "doctor"), await auth(client, "doctor2")
        assert (await client.get("/fhir/Observation/p-1", headers=doctor)).status_code == 200
        assert (await client.get("/fhir/Observation/b-1", headers=doctor)).status_code == 200
        assert (await client.get("/fhir/Observation/q-0", headers=doctor2)).status_code == 200
        events = bundle(await client.get("/fhir/AuditEvent", headers=doctor))
        for e in events["entry"]:
            AuditEvent.model_validate(e["resource"])
        reads = [e["resource"] for e in events["entry"] if e["resource"]["code"]["text"] == "fhir.Observation/read"]
        assert [r["entity"][0]["what"]["display"] for r in reads] == ["Observation/b-1", "Observation/p-1"]
        assert reads[1]["patient"]["reference"] == f"Patient/{UA}" and reads[1]["action"] == "R"
        assert reads[1]["agent"][0]["who"]["display"] == "doctor"
        assert reads[1]["source"]["observer"]["reference"] == "Organization/F1" and len(reads[1]["agent"]) == 1
        event = (await client.get(f"/fhir/AuditEvent/{reads[1]['id']}", headers=doctor)).json()
        assert event == reads[1]
        outcome(await client.get(f"/fhir/AuditEvent/{reads[1]['id']}", headers=doctor2), 404)  # F1's
        theirs = bundle(await client.get("/fhir/AuditEvent", params={"patient": UA}, headers=doctor2))
        assert [e["resource"]["entity"][0]["what"]["display"] for e in theirs["entry"]] == ["Observation/q-0"]
        nurse = await auth(client, "nurse")
        outcome(await client.get("/fhir/AuditEvent", headers=nurse), 403)  # doctors only
        # a patient sees who opened their record, and nothing of anyone else's
        a = await auth(client, "patient_a")
        mine = bundle(await client.get("/fhir/AuditEvent", params={"_count": "100"}, headers=a))
        shown = {e["resource"]["entity"][0]["what"]["display"] for e in mine["entry"]}
        assert {"Observation/p-1", "Observation/q-0"} <= shown and "Observation/b-1" not in shown
        assert {e["resource"]["patient"]["reference"] for e in mine["entry"]} == {f"Patient/{UA}"}
        outcome(await client.get("/fhir/AuditEvent", params={"patient": UB}, headers=a), 403)
        b_read = next(r["id"] for r in reads if r["patient"]["reference"] == f"Patient/{UB}")
        outcome(await client.get(f"/fhir/AuditEvent/{b_read}", headers=a), 404)
        dated = bundle(await client.get("/fhir/AuditEvent", params={"date": "lt2000-01-01"}, headers=doctor))
        assert dated["total"] == 0


async def test_capability_statement(db_url: str) -> None:
    settings = settings_for(db_url)
    async with serving(settings, plugins()) as client:
        r = await client.get("/fhir/metadata")  # public
        assert r.status_code == 200 and r.headers["content-type"].startswith(FHIR_JSON)
        body = r.json()
        CapabilityStatement.model_validate(body)
        assert body["fhirVersion"] == "5.0.0" and body["kind"] == "instance" and body["format"][0] == "json"
        resources = {res["type"]: res for res in body["rest"][0]["resource"]}
        assert set(resources) == {"Patient", "Observation", "Organization", "Practitioner", "PractitionerRole",
                                  "AuditEvent"}
        assert {p["name"] for p in resources["Observation"]["searchParam"]} == {"patient", "date", "code",
                                                                                 "status"}
        assert resources["Patient"]["operation"][0]["name"] == "everything"
        assert "operation" not in resources["Observation"]
        assert {i["code"] for i in resources["AuditEvent"]["interaction"]} == {"read", "vread", "search-type"}
