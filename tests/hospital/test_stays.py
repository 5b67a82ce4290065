"""Referral -> admission, transfer then discharge, the census, one bed under 20 concurrent
admissions, a deployment without the polyclinic, and each role's allowed and refused actions."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.polyclinic.world import HOSP, MEDCARD, POLY, now_iso, patient, seed, settings_for, until
from tests.support import login, racing, serving


async def ward(client: Any, auth: dict[str, str], name: str, beds: int) -> dict[str, Any]:
    body = {"name": name, "profile": "therapy", "beds": [f"{name}-{i}" for i in range(1, beds + 1)]}
    r = await client.post(f"{HOSP}/wards", json=body, headers=auth)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_referral_becomes_admission_then_transfer_discharge_and_census(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        doc, nurse = await login(client, "doctor"), await login(client, "nurse")
        pid = await patient(client, doc)
        visit = (await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc)).json()
        ref = await client.post(f"{POLY}/visits/{visit['id']}/referrals", headers=doc,
                                json={"kind": "hospital", "to_facility": "F1", "diagnosis": "J18.9"})
        assert ref.status_code == 201, ref.text

        async def pending() -> Any:
            return (await client.get(f"{HOSP}/admissions/pending", headers=nurse)).json()
        waiting = await until(pending)
        assert waiting[0]["referral_id"] == ref.json()["id"] and waiting[0]["diagnosis"] == "J18.9"
        a, b = await ward(client, doc, "A", 2), await ward(client, doc, "B", 1)
        body = {"referral_id": ref.json()["id"], "bed_id": a["beds"][0]["id"], "diagnosis": "J18.9"}
        stay = await client.post(f"{HOSP}/stays", json=body, headers=doc)
        assert stay.status_code == 201, stay.text
        sid = stay.json()["id"]
        assert stay.json()["emergency"] is False and stay.json()["patient_id"] == pid
        assert await pending() == []
        twice = await client.post(f"{HOSP}/stays", json={**body, "bed_id": a["beds"][1]["id"]}, headers=doc)
        assert twice.status_code == 409 and "already admitted" in twice.json()["detail"]

        pulse = {"code": "pulse", "value": 90, "performed_at": now_iso(), "encounter_id": sid}
        assert (await client.post(f"{MEDCARD}/patients/{pid}/indicators", json=pulse, headers=nurse)).status_code == 201
        moved = await client.post(f"{HOSP}/stays/{sid}/transfer", json={"bed_id": b["beds"][0]["id"],
                                  "reason": "isolation"}, headers=doc)
        assert moved.status_code == 200 and moved.json()["ward_id"] == b["id"]
        census = (await client.get(f"{HOSP}/census", headers=nurse)).json()
        assert {w["name"]: (w["occupied"], w["free"]) for w in census["wards"]} == {"A": (0, 2), "B": (1, 0)}
        assert [s["id"] for s in census["admitted"]] == [sid]

        out = {"diagnosis": "J18.9", "outcome": "recovered", "summary": "Pneumonia treated."}
        done = await client.post(f"{HOSP}/stays/{sid}/discharge", json=out, headers=doc)
        assert done.status_code == 200 and done.json()["status"] == "discharged"
        again = await client.post(f"{HOSP}/stays/{sid}/discharge", json=out, headers=doc)
        assert again.status_code == 409 and "already discharged" in again.json()["detail"]
        late = await client.post(f"{HOSP}/stays/{sid}/transfer", json={"bed_id": a["beds"][0]["id"]}, headers=doc)
        assert late.status_code == 409
        census = (await client.get(f"{HOSP}/census", headers=nurse)).json()
        assert all(w["occupied"] == 0 for w in census["wards"]) and census["admitted"] == []

        async def carded() -> Any:
            got = (await client.get(f"{HOSP}/stays/{sid}/card", headers=doc)).json()
            return got if got["indicators"] else None
        inpatient = await until(carded)
        assert inpatient["stay"]["outcome"] == "recovered"
        assert [t["reason"] for t in inpatient["transfers"]] == ["isolation"]
        assert inpatient["indicators"][0]["summary"]["value"] == 90


async def test_twenty_concurrent_admissions_to_one_bed_have_one_winner(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with racing(settings) as client:
        doc = await login(client, "doctor")
        pids = [await patient(client, doc, n) for n in range(1, 21)]
        bed = (await ward(client, doc, "ICU", 1))["beds"][0]["id"]
        answers = await asyncio.gather(*(client.post(f"{HOSP}/stays", headers=doc, json={
            "patient_id": p, "bed_id": bed, "diagnosis": "I21.9"}) for p in pids))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] + [409] * 19, codes
        assert all("occupied" in a.json()["detail"] for a in answers if a.status_code == 409)
        census = (await client.get(f"{HOSP}/census", headers=doc)).json()
        assert census["wards"][0]["occupied"] == 1 and len(census["admitted"]) == 1


async def test_deployment_with_only_medcard_and_hospital(db_url: str) -> None:
    modules = ("medcard", "hospital")
    settings = settings_for(db_url, modules)
    await seed(settings, modules)
    async with serving(settings) as client:
        doc = await login(client, "doctor")
        pid = await patient(client, doc)
        bed = (await ward(client, doc, "A", 1))["beds"][0]["id"]
        stay = await client.post(f"{HOSP}/stays", json={"patient_id": pid, "bed_id": bed, "diagnosis": "S72.0"},
                                 headers=doc)
        assert stay.status_code == 201 and stay.json()["emergency"] is True
        bad = await client.post(f"{HOSP}/stays", json={"patient_id": pid, "bed_id": bed, "diagnosis": "ZZZ"},
                                headers=doc)
        assert bad.status_code == 422
        assert (await client.get(f"{POLY}/", headers=doc)).status_code == 404


ALLOWED = {  # (method, path suffix, body) -> roles that pass the guard
    ("POST", f"{POLY}/visits", "visit"): {"doctor", "resident"},
    ("POST", f"{POLY}/schedules", "schedule"): {"doctor", "resident"},
    ("GET", f"{HOSP}/census", None): {"doctor", "resident", "nurse"},
    ("POST", f"{HOSP}/stays", "stay"): {"doctor", "resident"},
    ("POST", f"{HOSP}/wards", "ward"): {"doctor", "resident"},
    ("GET", f"{HOSP}/admissions/pending", None): {"doctor", "resident", "nurse"},
}


async def test_each_role_allowed_and_refused(db_url: str) -> None:
    settings = settings_for(db_url)
    ids = await seed(settings)
    async with serving(settings) as client:
        doc = await login(client, "doctor")
        pid = await patient(client, doc)
        bed = (await ward(client, doc, "Z", 1))["beds"][0]["id"]
        bodies = {"visit": {"patient_id": pid}, "stay": {"patient_id": pid, "bed_id": bed, "diagnosis": "I10"},
                  "schedule": {"doctor": str(ids["doctor"]), "starts_at": "2030-01-01T09:00:00+05:00",
                               "ends_at": "2030-01-01T10:00:00+05:00"}, "ward": None}
        for role in ("doctor", "resident", "nurse", "pharmacist"):
            auth = await login(client, role)
            for (method, path, body), allowed in ALLOWED.items():
                ward_body = {"name": f"W-{role}", "profile": "x", "beds": ["1"]}
                payload = ward_body if body == "ward" else bodies.get(body or "")
                r = await client.request(method, path, json=payload, headers=auth)
                if role in allowed:
                    assert r.status_code not in (401, 403), (role, path, r.text)
                else:
                    assert r.status_code == 403, (role, path, r.status_code)
