"""Concurrent conflicting transitions of slots and visits, with requests that really overlap: one
winner where only one is possible, the others 409, never a 5xx, and the state agrees with the
answers (a checked-in slot has its one open visit; nothing is added to a closed visit)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.polyclinic.test_visits import slots_for, tashkent_day
from tests.polyclinic.world import MEDCARD, POLY, now_iso, patient, seed, settings_for, until
from tests.races import no_5xx
from tests.support import login, racing


async def test_check_in_cancel_and_no_show_of_one_booking(db_url: str) -> None:
    settings = settings_for(db_url)
    ids = await seed(settings)
    async with racing(settings) as client:
        doc = await login(client, "doctor")
        slots = await slots_for(client, doc, ids["doctor"], hours_ago=2)  # started: a no-show is allowed
        for n, slot in enumerate(slots, start=1):
            pid = await patient(client, doc, n)
            url = f"{POLY}/slots/{slot['id']}"
            assert (await client.post(f"{url}/booking", json={"patient_id": pid}, headers=doc)).status_code == 200
            answers = await asyncio.gather(*(client.post(f"{url}/{step}", headers=doc)
                                             for step in ("check-in", "cancel", "no-show") * 3))
            codes = no_5xx(answers)
            assert sorted(codes) == [200] + [409] * 8, codes
            won = ("check-in", "cancel", "no-show")[codes.index(200) % 3]
            walk_in = await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc)
            # the patient has an open visit exactly when the check-in won
            assert walk_in.status_code == (409 if won == "check-in" else 201), (won, walk_in.text)


async def test_one_open_visit_per_patient_under_concurrent_opens(db_url: str) -> None:
    settings = settings_for(db_url)
    ids = await seed(settings)
    async with racing(settings) as client:
        doc = await login(client, "doctor")
        pid = await patient(client, doc)
        slot = (await slots_for(client, doc, ids["doctor"], hours_ago=-3))[0]
        url = f"{POLY}/slots/{slot['id']}"
        assert (await client.post(f"{url}/booking", json={"patient_id": pid}, headers=doc)).status_code == 200
        answers = await asyncio.gather(client.post(f"{url}/check-in", headers=doc), *(
            client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc) for _ in range(9)))
        codes = no_5xx(answers)
        assert sorted(codes).count(409) == 9 and len([c for c in codes if c in (200, 201)]) == 1, codes
        if codes[0] == 409:  # a walk-in won: the booking is still booked, not checked in
            q = await client.get(f"{POLY}/queue", headers=doc, params={
                "doctor": str(ids["doctor"]), "day": tashkent_day(slot["starts_at"])})
            assert [s["status"] for s in q.json()["slots"] if s["id"] == slot["id"]] == ["booked"]


async def test_closing_a_visit_while_orders_are_added(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with racing(settings) as client:
        doc = await login(client, "doctor")
        for n in range(1, 6):
            pid = await patient(client, doc, n)
            vid = (await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc)).json()["id"]
            dx = {"code": "J06.9", "rank": "primary", "verification": "confirmed", "performed_at": now_iso(),
                  "encounter_id": vid}
            assert (await client.post(f"{MEDCARD}/patients/{pid}/diagnoses", json=dx, headers=doc)).status_code == 201

            async def diagnosed(vid: str = vid) -> Any:
                return (await client.get(f"{POLY}/visits/{vid}/card", headers=doc)).json()["diagnoses"]
            await until(diagnosed)
            order = {"kind": "lab", "code": "2823-3"}
            answers = await asyncio.gather(
                *(client.post(f"{POLY}/visits/{vid}/close", json={}, headers=doc) for _ in range(3)),
                *(client.post(f"{POLY}/visits/{vid}/referrals", json=order, headers=doc) for _ in range(6)))
            codes = no_5xx(answers)
            assert sorted(codes[:3]) == [200, 409, 409], codes  # closed once
            assert all(c in (201, 409) for c in codes[3:]), codes
            card = (await client.get(f"{POLY}/visits/{vid}/card", headers=doc)).json()
            assert len(card["referrals"]) == codes[3:].count(201)  # every 201 is there, nothing else
            late = await client.post(f"{POLY}/visits/{vid}/referrals", json=order, headers=doc)
            assert late.status_code == 409
