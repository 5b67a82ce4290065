"""Who reaches what under /fhir: the native API's rules per provider, and the patient compartment."""

from __future__ import annotations

from tests.fhir.fake import plugins
from tests.fhir.world import UA, UB, auth, bundle, ids, outcome, seed, settings_for
from tests.support import serving

A_ITEMS = {f"p-{n}" for n in range(25)} | {"q-0", "q-1"}


async def test_staff_rules_per_provider(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings, plugins()) as client:
        r = await client.get("/fhir/Observation")
        assert outcome(r, 401)["issue"][0]["code"] == "login"
        assert r.headers["www-authenticate"].startswith("Bearer")
        outcome(await client.get("/fhir/Observation/p-1", headers={"Authorization": "Bearer nope"}), 401)
        for who in ("pharmacist", "registrar", "nurse2", "operator"):  # no role for it, or not installed
            headers = await auth(client, who)
            r = await client.get("/fhir/Observation", params={"patient": UA}, headers=headers)
            assert outcome(r, 403)["issue"][0]["code"] == "forbidden", who
            outcome(await client.get("/fhir/Observation/p-1", headers=headers), 403)
        doctor = await auth(client, "doctor")
        outcome(await client.get("/fhir/Observation", headers={**doctor, "X-Facility": "F2"}), 403)
        # nurse2 may read Observations of probe, which F2 has not installed: refused, not emptied
        outcome(await client.get(f"/fhir/Patient/{UA}/$everything", headers=await auth(client, "nurse2")), 403)
        # one type, two modules: each caller gets what their roles and facility allow
        every = {"_count": "100", "patient": UA}
        nurse = bundle(await client.get("/fhir/Observation", params=every, headers=await auth(client, "nurse")))
        assert set(ids(nurse)) == A_ITEMS - {"q-0", "q-1"}  # probe2 is for doctors only
        doctor2 = await auth(client, "doctor2")  # F2 has probe2 only
        assert set(ids(bundle(await client.get("/fhir/Observation", params=every, headers=doctor2)))) == {
            "q-0", "q-1"}
        outcome(await client.get("/fhir/Observation/p-1", headers=doctor2), 404)
        assert (await client.get("/fhir/Observation/q-1", headers=doctor2)).status_code == 200
        assert (await client.get("/fhir/Observation/q-1", headers=doctor)).status_code == 200
        outcome(await client.get("/fhir/Patient", headers=doctor2), 403)  # probe serves Patient
        # the refusals are in the audit trail, as the guard's are
        events = bundle(await client.get("/fhir/AuditEvent", params={"_count": "100"}, headers=doctor))
        denied = [e["resource"] for e in events["entry"]
                  if e["resource"]["outcome"]["code"]["code"] != "success"]
        assert {d["agent"][0]["who"]["display"] for d in denied} >= {"pharmacist", "registrar"}


async def test_patient_compartment(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings, plugins()) as client:
        a = await auth(client, "patient_a")
        mine = bundle(await client.get("/fhir/Observation", params={"_count": "100"}, headers=a))
        assert set(ids(mine)) == A_ITEMS and mine["total"] == 27
        assert set(ids(bundle(await client.get("/fhir/Observation", params={"patient": f"Patient/{UA}"},
                                                headers=a)))) <= A_ITEMS
        r = await client.get("/fhir/Observation", params={"patient": f"Patient/{UB}"}, headers=a)
        outcome(r, 403)
        outcome(await client.get("/fhir/Observation", params={"patient": "nobody"}, headers=a), 403)
        assert (await client.get("/fhir/Observation/p-0", headers=a)).status_code == 200
        outcome(await client.get("/fhir/Observation/b-0", headers=a), 404)  # B's: as if it did not exist
        outcome(await client.get(f"/fhir/Patient/{UB}", headers=a), 404)
        assert ids(bundle(await client.get("/fhir/Patient", headers=a))) == [UA]
        outcome(await client.get(f"/fhir/Patient/{UB}/$everything", headers=a), 403)
        outcome(await client.get("/fhir/Patient/nobody/$everything", headers=a), 403)
        everything = bundle(await client.get(f"/fhir/Patient/{UA}/$everything", params={"_count": "100"},
                                             headers=a))
        assert ids(everything)[0] == UA and set(ids(everything)[1:]) == A_ITEMS
        # directory data is open to patients: Organization, Practitioner
        assert (await client.get("/fhir/Organization/F1", headers=a)).status_code == 200
        b = await auth(client, "patient_b")
        assert {e["resource"]["id"] for e in bundle(await client.get("/fhir/Observation", headers=b))["entry"]} \
            == {f"b-{n}" for n in range(5)}


async def test_everything_pages_and_is_audited(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings, plugins()) as client:
        doctor = await auth(client, "doctor")
        url = f"/fhir/Patient/{UA}/$everything"
        first = bundle(await client.get(url, params={"_count": "10"}, headers=doctor))
        assert ids(first)[0] == UA and first["entry"][0]["resource"]["resourceType"] == "Patient"
        seen = ids(first)
        page = first
        while nxt := next((link["url"] for link in page["link"] if link["relation"] == "next"), None):
            page = bundle(await client.get(nxt, headers=doctor))
            seen += ids(page)
        assert len(seen) == 28 and set(seen) == A_ITEMS | {UA} and page["total"] == 28
        nurse = bundle(await client.get(url, params={"_count": "100"}, headers=await auth(client, "nurse")))
        assert set(ids(nurse)) == A_ITEMS - {"q-0", "q-1"} | {UA}
        outcome(await client.get("/fhir/Patient/00000000-0000-0000-0000-00000000000c/$everything",
                                 headers=doctor), 404)
        outcome(await client.get(url, params={"patient": UA}, headers=doctor), 400)
        await client.get("/fhir/Observation/b-1", headers=doctor)
        events = bundle(await client.get("/fhir/AuditEvent", params={"_count": "100"}, headers=doctor))
        codes = [(e["resource"]["code"]["text"], e["resource"].get("patient", {}).get("reference"))
                 for e in events["entry"]]
        assert codes.count(("fhir.Patient/everything", f"Patient/{UA}")) == 4  # 3 pages and the nurse's
        assert ("fhir.Observation/read", f"Patient/{UB}") in codes
