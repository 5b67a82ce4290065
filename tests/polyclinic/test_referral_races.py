"""Referrals and orders under concurrent transitions, with requests that really overlap: one
hospital referral admitted into several beds at once (one stay, the referral closed once), and lab
orders created while results that fulfil them are recorded (each result closes one order, the
oldest open one, and no order is closed twice). Never a 5xx."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.hospital.test_stays import ward
from tests.medcard.card import lab
from tests.polyclinic.world import HOSP, MEDCARD, POLY, patient, seed, settings_for, until
from tests.races import no_5xx
from tests.support import login, racing

ORDER = {"kind": "lab", "code": "2823-3"}


async def test_one_referral_admitted_into_several_beds_at_once(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with racing(settings) as client:
        doc = await login(client, "doctor")
        beds = [b["id"] for b in (await ward(client, doc, "R", 5))["beds"]]
        for n in range(1, 3):
            pid = await patient(client, doc, n)
            vid = (await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc)).json()["id"]
            made = await client.post(f"{POLY}/visits/{vid}/referrals", headers=doc,
                                     json={"kind": "hospital", "to_facility": "F1", "diagnosis": "J18.9"})
            ref = made.json()["id"]

            async def pending(ref: str = ref) -> Any:
                got = (await client.get(f"{HOSP}/admissions/pending", headers=doc)).json()
                return [p for p in got if p["referral_id"] == ref]
            await until(pending)
            answers = await asyncio.gather(*(client.post(f"{HOSP}/stays", headers=doc, json={
                "referral_id": ref, "bed_id": bed, "diagnosis": "J18.9"}) for bed in beds))
            codes = no_5xx(answers)
            assert sorted(codes) == [201] + [409] * 4, codes
            sid = answers[codes.index(201)].json()["id"]
            census = (await client.get(f"{HOSP}/census", headers=doc)).json()
            assert [s["id"] for s in census["admitted"]] == [sid]
            assert sum(w["occupied"] for w in census["wards"]) == 1
            assert await pending() == []

            async def closed(vid: str = vid) -> Any:
                got = (await client.get(f"{POLY}/visits/{vid}/card", headers=doc)).json()["referrals"]
                return got if got[0]["status"] == "closed" else None
            assert [r["id"] for r in await until(closed)] == [ref]
            discharged = await client.post(f"{HOSP}/stays/{sid}/discharge", headers=doc, json={
                "diagnosis": "J18.9", "outcome": "recovered", "summary": "Treated."})
            assert discharged.status_code == 200, discharged.text


async def test_orders_created_while_their_results_are_recorded(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with racing(settings) as client:
        doc = await login(client, "doctor")
        pid = await patient(client, doc)
        vid = (await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc)).json()["id"]
        first = [(await client.post(f"{POLY}/visits/{vid}/referrals", json=ORDER, headers=doc)).json()["id"]
                 for _ in range(4)]
        answers = await asyncio.gather(
            *(client.post(f"{MEDCARD}/patients/{pid}/lab-results", json=lab(4.0 + n / 10), headers=doc)
              for n in range(4)),
            *(client.post(f"{POLY}/visits/{vid}/referrals", json=ORDER, headers=doc) for _ in range(4)))
        assert no_5xx(answers) == [201] * 8
        results = {a.json()["id"] for a in answers[:4]}
        later = {a.json()["id"] for a in answers[4:]}

        async def settled() -> Any:
            got = (await client.get(f"{POLY}/visits/{vid}/card", headers=doc)).json()["referrals"]
            done = [r for r in got if r["status"] == "closed"]
            return got if len(done) == 4 else None
        await until(settled)
        await asyncio.sleep(0.5)  # a fifth closing would show now
        got = (await client.get(f"{POLY}/visits/{vid}/card", headers=doc)).json()["referrals"]
        orders = {r["id"]: r for r in got}
        assert {o for o, r in orders.items() if r["status"] == "closed"} == set(first)  # the oldest open ones
        assert all(orders[o]["status"] == "open" for o in later)
        assert {orders[o]["result_entry_id"] for o in first} == results  # one result, one order
