"""Concurrent conflicting transitions of stays and beds, through HTTP with requests that really
overlap: whatever wins, no discharged stay holds a bed, the census equals the admitted stays, one
winner where only one is possible, the others 409, never a 5xx."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from tests.hospital.test_stays import ward
from tests.polyclinic.world import HOSP, patient, seed, settings_for
from tests.support import login, racing

OUT = {"diagnosis": "J18.9", "outcome": "recovered", "summary": "Treated."}


async def admit(client: Any, doc: dict[str, str], pid: str, bed: str) -> str:
    r = await client.post(f"{HOSP}/stays", headers=doc, json={"patient_id": pid, "bed_id": bed,
                                                              "diagnosis": "J18.9"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def invariants(client: Any, doc: dict[str, str]) -> dict[str, int]:
    """Beds and stays agree: every occupied bed holds an admitted stay that names that bed, and
    every admitted stay lies in exactly its bed. Returns the figures for the report."""
    wards = (await client.get(f"{HOSP}/wards", headers=doc)).json()
    census = (await client.get(f"{HOSP}/census", headers=doc)).json()
    admitted = {s["id"]: s for s in census["admitted"]}
    held = {b["stay_id"]: b["id"] for w in wards for b in w["beds"] if b["stay_id"]}
    by_discharged = [s for s in held if s not in admitted]
    occupied = sum(w["occupied"] for w in census["wards"])
    assert by_discharged == [], f"{len(by_discharged)} beds held by discharged stays"
    assert occupied == len(admitted), (occupied, len(admitted))
    assert {s: st["bed_id"] for s, st in admitted.items()} == held
    return {"occupied": occupied, "admitted": len(admitted), "held_by_discharged": len(by_discharged)}


async def test_discharge_racing_transfer_leaves_no_bed_behind(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with racing(settings) as client:
        doc = await login(client, "doctor")
        trials = 15
        pids = [await patient(client, doc, n) for n in range(1, trials + 1)]
        beds = [b["id"] for b in (await ward(client, doc, "R", 2 * trials))["beds"]]
        outcomes = []
        for i, pid in enumerate(pids):
            sid = await admit(client, doc, pid, beds[2 * i])
            moved, out = await asyncio.gather(
                client.post(f"{HOSP}/stays/{sid}/transfer", headers=doc,
                            json={"bed_id": beds[2 * i + 1], "reason": "isolation"}),
                client.post(f"{HOSP}/stays/{sid}/discharge", headers=doc, json=OUT))
            outcomes.append((moved.status_code, out.status_code))
            assert out.status_code == 200, out.text  # a discharge never loses to a transfer
            assert moved.status_code in (200, 409), moved.text
        figures = await invariants(client, doc)
        assert figures == {"occupied": 0, "admitted": 0, "held_by_discharged": 0}, (figures, outcomes)


async def test_twenty_concurrent_transfers_of_one_stay(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with racing(settings) as client:
        doc = await login(client, "doctor")
        pid = await patient(client, doc)
        beds = [b["id"] for b in (await ward(client, doc, "T", 21))["beds"]]
        sid = await admit(client, doc, pid, beds[0])
        answers = await asyncio.gather(*(client.post(
            f"{HOSP}/stays/{sid}/transfer", headers=doc, json={"bed_id": bed, "reason": "move"})
            for bed in beds[1:]))
        codes = sorted(a.status_code for a in answers)
        assert all(c in (200, 409) for c in codes), [a.text for a in answers if a.status_code >= 500]
        assert 200 in codes, codes
        stay = (await client.get(f"{HOSP}/stays/{sid}", headers=doc)).json()
        won = {a.json()["bed_id"] for a in answers if a.status_code == 200}
        assert stay["bed_id"] in won
        assert await invariants(client, doc) == {"occupied": 1, "admitted": 1, "held_by_discharged": 0}
        card = (await client.get(f"{HOSP}/stays/{sid}/card", headers=doc)).json()
        assert len(card["transfers"]) == codes.count(200)  # each 200 is one recorded move, chained
        hops = [(t["from_bed"], t["to_bed"]) for t in card["transfers"]]
        assert all(a[1] == b[0] for a, b in itertools.pairwise(hops)), hops


async def test_crossing_transfers_and_admissions_into_one_bed(db_url: str) -> None:
    """Two stays swap beds while a third patient is admitted into one of them and a fourth stay
    moves into it: only moves into free beds succeed, nothing deadlocks into a 5xx."""
    settings = settings_for(db_url)
    await seed(settings)
    async with racing(settings) as client:
        doc = await login(client, "doctor")
        pids = [await patient(client, doc, n) for n in range(1, 41)]
        beds = [b["id"] for b in (await ward(client, doc, "X", 40))["beds"]]
        for round_ in range(8):
            base = 5 * round_
            a, b, c = [await admit(client, doc, pids[base + k], beds[base + k]) for k in range(3)]
            free = beds[base + 3]
            answers = await asyncio.gather(
                client.post(f"{HOSP}/stays/{a}/transfer", headers=doc, json={"bed_id": beds[base + 1]}),
                client.post(f"{HOSP}/stays/{b}/transfer", headers=doc, json={"bed_id": beds[base]}),
                client.post(f"{HOSP}/stays/{c}/transfer", headers=doc, json={"bed_id": free}),
                client.post(f"{HOSP}/stays/{b}/transfer", headers=doc, json={"bed_id": free}),
                client.post(f"{HOSP}/stays", headers=doc, json={
                    "patient_id": pids[base + 3], "bed_id": free, "diagnosis": "I10"}),
                client.post(f"{HOSP}/stays/{a}/discharge", headers=doc, json=OUT))
            codes = [r.status_code for r in answers]
            assert all(code in (200, 201, 409) for code in codes), [r.text for r in answers]
            wins = 3 - codes[2:5].count(409)  # c or the admission keeps the free bed; b may pass by
            assert 1 <= wins <= 2, codes
            assert codes[5] == 200, answers[5].text
            await invariants(client, doc)


async def test_admitting_one_patient_twice_at_once(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with racing(settings) as client:
        doc = await login(client, "doctor")
        pid = await patient(client, doc)
        beds = [b["id"] for b in (await ward(client, doc, "D", 10))["beds"]]
        answers = await asyncio.gather(*(client.post(f"{HOSP}/stays", headers=doc, json={
            "patient_id": pid, "bed_id": bed, "diagnosis": "I10"}) for bed in beds))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] + [409] * 9, [a.text for a in answers]
        assert await invariants(client, doc) == {"occupied": 1, "admitted": 1, "held_by_discharged": 0}
