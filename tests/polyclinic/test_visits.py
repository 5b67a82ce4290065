"""Appointments and outpatient visits: a visit fills itself from the card and closes with a diagnosis;
orders close on results; a slot is booked once even under concurrent bookings."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from core.clock import utcnow
from tests.polyclinic.world import MEDCARD, POLY, now_iso, patient, seed, settings_for, until
from tests.support import login, racing, serving


def tashkent_day(stamp: str) -> str:
    return (datetime.fromisoformat(stamp) + timedelta(hours=5)).date().isoformat()


async def slots_for(client: Any, auth: dict[str, str], doctor: Any, hours_ago: float = 1) -> list[dict[str, Any]]:
    start = (utcnow() - timedelta(hours=hours_ago)).replace(microsecond=0)
    body = {"doctor": str(doctor), "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=60)).isoformat(), "slot_minutes": 20}
    r = await client.post(f"{POLY}/schedules", json=body, headers=auth)
    assert r.status_code == 201, r.text
    return list(r.json())


async def test_visit_fills_itself_from_the_card_and_closes_with_a_diagnosis(db_url: str) -> None:
    settings = settings_for(db_url)
    ids = await seed(settings)
    async with serving(settings) as client:
        doc, nurse = await login(client, "doctor"), await login(client, "nurse")
        pid = await patient(client, doc)
        slot = (await slots_for(client, doc, ids["doctor"]))[0]
        booked = await client.post(f"{POLY}/slots/{slot['id']}/booking", json={"patient_id": pid}, headers=nurse)
        assert booked.status_code == 200 and booked.json()["status"] == "booked"
        visit = (await client.post(f"{POLY}/slots/{slot['id']}/check-in", headers=doc)).json()
        assert visit["status"] == "open" and visit["slot_id"] == slot["id"]
        vid = visit["id"]

        early = await client.post(f"{POLY}/visits/{vid}/close", json={}, headers=doc)
        assert early.status_code == 409 and "final diagnosis" in early.json()["detail"]
        card = f"{MEDCARD}/patients/{pid}"
        pulse = {"code": "pulse", "value": 80, "performed_at": now_iso()}  # no encounter: same facility
        assert (await client.post(f"{card}/indicators", json=pulse, headers=nurse)).status_code == 201
        dx = {"code": "J06.9", "rank": "primary", "verification": "confirmed", "performed_at": now_iso(),
              "encounter_id": vid}
        assert (await client.post(f"{card}/diagnoses", json=dx, headers=doc)).status_code == 201

        async def filled() -> Any:
            got = (await client.get(f"{POLY}/visits/{vid}/card", headers=doc)).json()
            return got if got["indicators"] and got["diagnoses"] else None
        outpatient = await until(filled)
        assert outpatient["indicators"][0]["summary"]["value"] == 80
        assert outpatient["diagnoses"][0]["summary"]["icd10"] == "J06.9"

        wrong = await client.post(f"{POLY}/visits/{vid}/close", json={"final_diagnosis": "I10"}, headers=doc)
        assert wrong.status_code == 409
        closed = await client.post(f"{POLY}/visits/{vid}/close", json={}, headers=doc)
        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "closed" and closed.json()["final_diagnosis"] == "J06.9"
        again = await client.post(f"{POLY}/visits/{vid}/close", json={}, headers=doc)
        assert again.status_code == 409 and "already closed" in again.json()["detail"]
        assert again.headers["content-type"].startswith("application/problem+json")
        refer = {"kind": "lab", "code": "2823-3"}
        assert (await client.post(f"{POLY}/visits/{vid}/referrals", json=refer, headers=doc)).status_code == 409
        # the queue of the day shows the checked-in slot
        day = tashkent_day(slot["starts_at"])
        q = await client.get(f"{POLY}/queue", params={"doctor": str(ids["doctor"]), "day": day}, headers=nurse)
        assert q.status_code == 200
        assert any(s["id"] == slot["id"] and s["status"] == "checked_in" for s in q.json()["slots"])


async def test_result_on_the_card_closes_the_matching_order(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        doc = await login(client, "doctor")
        pid = await patient(client, doc)
        visit = await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc)
        assert visit.status_code == 201, visit.text
        vid = visit.json()["id"]
        second = await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc)
        assert second.status_code == 409
        bad = await client.post(f"{POLY}/visits/{vid}/referrals", json={"kind": "instrumental", "code": "x"},
                                headers=doc)
        assert bad.status_code == 422
        order = await client.post(f"{POLY}/visits/{vid}/referrals", json={"kind": "lab", "code": "2823-3"},
                                  headers=doc)
        assert order.status_code == 201 and order.json()["status"] == "open"
        lab = {"test": "Potassium", "loinc": "2823-3", "value": 4.2, "performed_at": now_iso()}
        done = await client.post(f"{MEDCARD}/patients/{pid}/lab-results", json=lab, headers=doc)
        assert done.status_code == 201, done.text

        async def closed() -> Any:
            refs = (await client.get(f"{POLY}/visits/{vid}/card", headers=doc)).json()["referrals"]
            return refs if refs[0]["status"] == "closed" else None
        refs = await until(closed)
        assert refs[0]["result_entry_id"] == done.json()["id"]


async def test_slot_transitions_answer_409_with_the_reason(db_url: str) -> None:
    settings = settings_for(db_url)
    ids = await seed(settings)
    async with serving(settings) as client:
        doc = await login(client, "doctor")
        pid = await patient(client, doc)
        first, second, *_ = await slots_for(client, doc, ids["doctor"])
        dup = await client.post(f"{POLY}/schedules", headers=doc, json={
            "doctor": str(ids["doctor"]), "starts_at": first["starts_at"], "ends_at": first["ends_at"],
            "slot_minutes": 20})
        assert dup.status_code == 409
        url = f"{POLY}/slots/{first['id']}"
        assert (await client.post(f"{url}/cancel", headers=doc)).status_code == 409  # not booked
        assert (await client.post(f"{url}/booking", json={"patient_id": pid}, headers=doc)).status_code == 200
        taken = await client.post(f"{url}/booking", json={"patient_id": pid}, headers=doc)
        assert taken.status_code == 409 and "booked" in taken.json()["detail"]
        assert (await client.post(f"{url}/cancel", headers=doc)).json()["status"] == "free"
        nobody = await client.post(f"{url}/booking", json={"patient_id": str(ids["doctor"])}, headers=doc)
        assert nobody.status_code == 422
        url2 = f"{POLY}/slots/{second['id']}"
        assert (await client.post(f"{url2}/booking", json={"patient_id": pid}, headers=doc)).status_code == 200
        assert (await client.post(f"{url2}/no-show", headers=doc)).json()["status"] == "no_show"
        assert (await client.post(f"{url2}/check-in", headers=doc)).status_code == 409
        unknown = await client.post(f"{url2}/booking", json={"patient_id": pid, "extra": 1}, headers=doc)
        assert unknown.status_code == 422 and "extra" in unknown.text


async def test_twenty_concurrent_bookings_of_one_slot_have_one_winner(db_url: str) -> None:
    settings = settings_for(db_url)
    ids = await seed(settings)
    async with racing(settings) as client:
        doc, nurse = await login(client, "doctor"), await login(client, "nurse")
        pids = [await patient(client, doc, n) for n in range(1, 21)]
        slot = (await slots_for(client, doc, ids["doctor"], hours_ago=-24))[0]
        url = f"{POLY}/slots/{slot['id']}/booking"
        answers = await asyncio.gather(*(client.post(url, json={"patient_id": p}, headers=nurse) for p in pids))
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] + [409] * 19, codes
        winner = next(a.json()["patient_id"] for a in answers if a.status_code == 200)
        day = tashkent_day(slot["starts_at"])
        q = await client.get(f"{POLY}/queue", params={"doctor": str(ids["doctor"]), "day": day}, headers=doc)
        assert [s["patient_id"] for s in q.json()["slots"] if s["id"] == slot["id"]] == [winner]
