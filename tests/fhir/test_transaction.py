"""``POST /fhir``: a transaction Bundle of Conditions and vital-sign Observations, all or nothing.

Written through the medcard's native path (each entry its own event, audit entry and kind's
permission); the transaction-response and every OperationOutcome are checked as FHIR R5."""

from __future__ import annotations

from typing import Any

import msgspec
from fhir.resources import get_fhir_model_class
from fhir.resources.bundle import Bundle
from sqlalchemy import select

from adapters.storage.tables import outbox
from core.events import EntryRecorded, decode_event
from host.audit import audit_log
from tests.fhir.world import FHIR_JSON, outcome
from tests.medcard.card import API, VALID, ago, new_patient, settings_for
from tests.support import add_facility, add_user, login, opened, serving

LOINC, UCUM = "http://loinc.org", "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
VITAL = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                      "code": "vital-signs"}]}]


def qty(value: Any, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def vital(pid: str, loinc: str, **value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "category": VITAL,
            "code": {"coding": [{"system": LOINC, "code": loinc}]}, "subject": {"reference": f"Patient/{pid}"},
            "effectiveDateTime": ago(minutes=5), **value}


def pulse(pid: str, value: Any = 74, unit: str = "/min") -> dict[str, Any]:
    return vital(pid, "8867-4", valueQuantity=qty(value, unit))


def pressure(pid: str) -> dict[str, Any]:
    return vital(pid, "85354-9", component=[
        {"code": {"coding": [{"system": LOINC, "code": "8480-6"}]}, "valueQuantity": qty(128, "mm[Hg]")},
        {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]}, "valueQuantity": qty(82, "mm[Hg]")}])


def condition(pid: str, code: str = "J06.9") -> dict[str, Any]:
    return {"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "verificationStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
            "code": {"coding": [{"system": ICD10, "code": code}]}, "onsetDateTime": ago(minutes=10),
            "note": [{"text": "since Monday"}]}


def transaction(*resources: dict[str, Any], type_: str = "transaction", method: str = "POST") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": type_, "entry": [
        {"fullUrl": f"urn:uuid:0190{n:04d}-0000-7000-8000-000000000000", "resource": r,
         "request": {"method": method, "url": r["resourceType"]}} for n, r in enumerate(resources)]}


async def post(client: Any, body: dict[str, Any], auth: dict[str, str], media: str = FHIR_JSON) -> Any:
    return await client.post("/fhir", content=msgspec.json.encode(body), headers={**auth, "Content-Type": media})


async def _written(settings: Any) -> tuple[list[EntryRecorded], list[Any]]:
    async with opened(settings) as rt, rt.storage.transaction(readonly=True) as tx:
        rows = (await tx.execute(select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.seq))).all()
        a = audit_log.c
        audited = (await tx.execute(select(a.action, a.patient, a.object, a.outcome).where(
            a.action.like("medcard.%/record")).order_by(a.seq))).all()
    sent = [decode_event(r.event_type, r.payload) for r in rows]
    return [e for e in sent if isinstance(e, EntryRecorded)], list(audited)


def responded(r: Any) -> list[dict[str, Any]]:
    """A transaction-response, valid R5, with each created resource valid R5 too."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = r.json()
    Bundle.model_validate(body)
    assert body["type"] == "transaction-response"
    for entry in body["entry"]:
        res = entry["resource"]
        get_fhir_model_class(res["resourceType"]).model_validate(res)
        assert entry["response"]["status"] == "201 Created"
        assert entry["response"]["location"] == f"{res['resourceType']}/{res['id']}"
    return list(body["entry"])


def where(r: Any, status: int) -> list[str]:
    return list(outcome(r, status)["issue"][0].get("expression", []))


async def _seed(settings: Any) -> None:
    """F1 with the medical card, a doctor, a nurse and a pharmacist there, and the patient's account."""
    async with opened(settings) as rt:
        await add_facility(rt, "F1", ["medcard"])
        for role in ("doctor", "nurse", "pharmacist"):
            await add_user(rt, role, grants=[("F1", role)])
        await add_user(rt, "patient", kind="patient", pinfl=VALID["pinfl"])


async def test_a_transaction_is_recorded_natively_all_or_nothing(db_url: str) -> None:
    settings = settings_for(db_url)
    await _seed(settings)
    async with serving(settings) as client:
        doctor, nurse, pharmacist, me = [await login(client, u) for u in ("doctor", "nurse", "pharmacist", "patient")]
        pid = await new_patient(client, doctor)

        # refused whole, nothing written: a bad entry, a kind the caller may not record, not a create
        ok = [condition(pid), pressure(pid)]
        assert where(await post(client, transaction(*ok, pulse(pid, 19)), doctor), 422) == [
            "Bundle.entry[2].resource.valueQuantity.value"]  # implausible
        assert where(await post(client, transaction(*ok, pulse(pid, 80, "/s")), doctor), 422) == [
            "Bundle.entry[2].resource.valueQuantity"]  # not the card's unit
        assert where(await post(client, transaction(pulse(pid), condition(pid, "Q99.99")), doctor), 422) == [
            "Bundle.entry[1].resource.code"]
        high = pressure(pid)
        high["component"][0]["valueQuantity"]["value"] = 400
        assert where(await post(client, transaction(high), doctor), 422) == [
            "Bundle.entry[0].resource.component[0].valueQuantity.value"]
        lab = {**pulse(pid), "category": [{"coding": [{"code": "laboratory"}]}]}
        assert where(await post(client, transaction(lab), doctor), 422) == ["Bundle.entry[0].resource.category"]
        nobody = pulse("01900000-0000-7000-8000-0000000000ff")
        assert where(await post(client, transaction(*ok, nobody), doctor), 404) == [
            "Bundle.entry[2].resource.subject"]
        assert where(await post(client, transaction(pulse(pid), method="PUT"), doctor), 422) == [
            "Bundle.entry[0].request.method"]
        assert where(await post(client, transaction(pulse(pid), type_="batch"), doctor), 400) == ["Bundle.type"]
        unknown = await post(client, {**transaction(pulse(pid)), "colour": "red"}, doctor)
        assert where(unknown, 400) == ["Bundle.colour"]  # not valid R5
        assert where(await post(client, transaction(*ok), nurse), 403) == ["Bundle.entry[0].resource"]
        outcome(await post(client, transaction(pulse(pid)), me), 401)  # a patient-app token writes nothing
        assert "allow no FHIR create" in outcome(await post(client, {}, pharmacist), 403)["issue"][0]["diagnostics"]
        card = (await client.get(f"{API}/patients/{pid}/entries", headers=doctor)).json()
        assert card["items"] == []
        refused = await _written(settings)

        # a diagnosis and three vital signs in one transaction, each a native entry
        temp = vital(pid, "8310-5", valueQuantity=qty(37.9, "Cel"))
        got = responded(await post(client, transaction(condition(pid), pressure(pid), pulse(pid), temp), doctor))
        assert [e["resource"]["resourceType"] for e in got] == ["Condition"] + ["Observation"] * 3
        dx, bp, hr, t = (e["resource"] for e in got)
        assert dx["code"]["coding"][0]["code"] == "J06.9"
        assert dx["verificationStatus"]["coding"][0]["code"] == "confirmed"
        assert [c["valueQuantity"]["value"] for c in bp["component"]] == [128, 82]
        assert hr["valueQuantity"]["value"] == 74 and t["valueQuantity"]["code"] == "Cel"
        for entry in got:  # the FHIR read answers what the transaction answered
            r = await client.get(f"/fhir/{entry['response']['location']}", headers=doctor)
            assert r.status_code == 200 and r.json() == entry["resource"]
        card = (await client.get(f"{API}/patients/{pid}/entries", params={"limit": 50}, headers=doctor)).json()
        by_id = {e["id"]: (e["kind"], e["code"], e["role"]) for e in card["items"]}
        assert by_id == {dx["id"]: ("diagnosis", "J06.9", "doctor"),
                         bp["id"]: ("indicator", "blood_pressure", "doctor"),
                         hr["id"]: ("indicator", "pulse", "doctor"),
                         t["id"]: ("indicator", "temperature", "doctor")}
        # a nurse's vital signs alone are hers to send, as plain JSON too
        mine = responded(await post(client, transaction(pulse(pid, 80)), nurse, media="application/json"))
        meta = (await client.get("/fhir/metadata")).json()["rest"][0]
        assert [i["code"] for i in meta["interaction"]] == ["transaction"]
        creates = {r["type"] for r in meta["resource"] if "create" in [i["code"] for i in r["interaction"]]}
        assert creates == {"Condition", "Observation"}
    assert refused[0] == []  # no event of any refused Bundle
    assert [(a.action, a.outcome) for a in refused[1]] == [("medcard.diagnosis/record", "denied:403")]  # the nurse
    events, audited = await _written(settings)
    ids = [e["resource"]["id"] for e in got + mine]
    assert [str(e.entry_id) for e in events] == ids  # one event per entry, in order
    kinds = ["diagnosis"] + ["indicator"] * 4
    assert [(a.object, a.action, a.patient, a.outcome) for a in audited[1:]] == [
        (i, f"medcard.{k}/record", VALID["pinfl"], "ok") for i, k in zip(ids, kinds, strict=True)]
