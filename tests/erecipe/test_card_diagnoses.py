"""The prescription module knows the card's diagnoses: it refuses to issue for a diagnosis the card
refuted or marked entered in error, allows one the card lacks, and shows what the card says."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from core import events as ev
from core.clock import utcnow
from plugins.erecipe import card_diagnoses
from tests.erecipe.rx import PATIENT, Actor, actor, draft_body, issued, seed, settings_for
from tests.polyclinic.world import until
from tests.support import opened, serving

CARD = "/api/v1/medcard/patients"


def _dx(code: str, verification: str) -> dict[str, Any]:
    return {"code": code, "rank": "secondary", "verification": verification,
            "performed_at": (utcnow() - timedelta(minutes=1)).isoformat()}


async def _on_card(doctor: Actor, rx: dict[str, Any], wanted: str) -> Any:
    async def probe() -> Any:
        r = await doctor.get(f"/prescriptions/{rx['id']}")
        return r.json() if r.json()["diagnosis_on_card"] == wanted else None
    return await until(probe, timeout=3.0)


async def test_issuing_follows_what_the_card_says_of_the_diagnosis(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys").with_(run_relay=True, relay_poll_seconds=0.1)
    signer = await seed(s)
    async with serving(s) as client:
        doctor = await actor(client, signer, "doctor")
        pid = (await client.get(CARD, params={"pinfl": PATIENT}, headers=doctor.headers)).json()[0]["id"]
        fresh = await issued(doctor, diagnosis="E11.9")  # absent from the card: allowed
        assert fresh["diagnosis_on_card"] == "absent"

        r = await client.post(f"{CARD}/{pid}/diagnoses", json=_dx("J06.9", "provisional"), headers=doctor.headers)
        assert r.status_code == 201, r.text
        eid = r.json()["id"]
        rx = await issued(doctor, diagnosis="J06.9")
        await _on_card(doctor, rx, "provisional")

        async def correct(version: int, verification: str) -> None:
            body = {"version": version, "reason": "results came back", "entry": _dx("J06.9", verification)}
            r = await client.post(f"{CARD}/{pid}/diagnoses/{eid}/versions", json=body, headers=doctor.headers)
            assert r.status_code == 201, r.text
        await correct(1, "confirmed")
        await _on_card(doctor, rx, "confirmed")
        listed = (await doctor.get("/prescriptions/", patient=PATIENT)).json()
        assert {p["number"]: p["diagnosis_on_card"] for p in listed}[rx["number"]] == "confirmed"

        pending = (await doctor.post("/prescriptions/drafts", draft_body(diagnosis="J06.9"))).json()
        await correct(2, "refuted")
        await _on_card(doctor, rx, "refuted")
        canonical = pending["canonical"]
        r = await doctor.post(f"/prescriptions/{pending['id']}/issue",
                              {"signature": await doctor.sign(base64.b64decode(canonical)), "content": canonical})
        assert r.status_code == 422 and "J06.9 refuted" in r.json()["detail"], r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == "diagnosis"
        assert (await doctor.get(f"/prescriptions/{pending['id']}")).json()["status"] == "draft"
        r = await doctor.post("/prescriptions/drafts", draft_body(diagnosis="J06.9"))
        assert r.status_code == 422 and "refuted" in r.json()["detail"]

        r = await client.post(f"{CARD}/{pid}/diagnoses", json=_dx("I10", "confirmed"), headers=doctor.headers)
        hypertension = await issued(doctor, diagnosis="I10")
        await _on_card(doctor, hypertension, "confirmed")
        gone = await client.post(f"{CARD}/{pid}/diagnoses/{r.json()['id']}/entered-in-error", headers=doctor.headers,
                                 json={"version": 1, "reason": "wrong patient"})
        assert gone.status_code in (200, 201), gone.text
        await _on_card(doctor, hypertension, "entered_in_error")
        r = await doctor.post("/prescriptions/drafts", draft_body(diagnosis="I10"))
        assert r.status_code == 422 and "entered in error" in r.json()["detail"]
        assert (await doctor.post("/prescriptions/drafts", draft_body(diagnosis="E11.9"))).status_code == 201


def _recorded(entry_id: Any, code: str, verification: str, version: int = 1) -> ev.Event:
    summary = {"code": code, "icd10": code, "verification": verification, "version": version,
               "status": "current"}
    if version == 1:
        return ev.EntryRecorded(patient=PATIENT, entry_id=entry_id, kind="diagnosis", performed_at=utcnow(),
                                summary=summary)
    return ev.EntryCorrected(patient=PATIENT, entry_id=entry_id, kind="diagnosis", entry_version=version,
                             reason="fix", performed_at=utcnow(), summary=summary)


async def test_the_projection_keeps_the_newest_version_whatever_the_delivery_order(
        db_url: str, tmp_path: Path) -> None:
    """At-least-once delivery, reordered after a retry: each order and repetition ends the same."""
    s = settings_for(db_url, tmp_path / "keys")
    async with opened(s) as rt:
        a, b, c = uuid4(), uuid4(), uuid4()
        v1 = _recorded(a, "J06.9", "provisional")
        v2 = _recorded(a, "J02.0", "confirmed", version=2)  # the correction changed the code
        v3 = ev.EntryEnteredInError(patient=PATIENT, entry_id=a, kind="diagnosis", entry_version=3, reason="x")
        w1, w2 = _recorded(b, "I10", "confirmed"), _recorded(b, "I10", "refuted", version=2)
        other = ev.EntryRecorded(patient=PATIENT, entry_id=c, kind="indicator", performed_at=utcnow(),
                                 summary={"code": "I10", "verification": "refuted"})  # not a diagnosis
        for event in (v2, w2, v1, v1, w1, other, w2):
            async with rt.storage.transaction() as tx:
                await card_diagnoses.project(event, tx)
        async with rt.storage.transaction() as tx:
            said = {code: await card_diagnoses.on_card(tx, PATIENT, code) for code in ("J06.9", "J02.0", "I10")}
        assert said == {"J06.9": "absent", "J02.0": "confirmed", "I10": "refuted"}
        d = uuid4()  # its "entered in error" overtakes the entry itself
        late = ev.EntryEnteredInError(patient=PATIENT, entry_id=d, kind="diagnosis", entry_version=2, reason="x")
        for event in (v3, v2, v1, late, _recorded(d, "K21.0", "confirmed")):
            async with rt.storage.transaction() as tx:
                await card_diagnoses.project(event, tx)
        async with rt.storage.transaction() as tx:
            assert await card_diagnoses.on_card(tx, PATIENT, "J02.0") == "entered_in_error"
            assert await card_diagnoses.on_card(tx, PATIENT, "J06.9") == "absent"
            assert await card_diagnoses.on_card(tx, PATIENT, "K21.0") == "entered_in_error"
            assert await card_diagnoses.on_card(tx, "30101900000011", "I10") == "absent"  # another patient


async def test_the_strongest_word_among_many_entries_of_one_code(db_url: str, tmp_path: Path) -> None:
    """A chronic diagnosis recorded at every visit: many entries of one code, in every state; the
    card's word is the strongest state any of them holds (confirmed, provisional, refuted, entered
    in error), and taking the strongest away leaves the next."""
    s = settings_for(db_url, tmp_path / "keys")
    async with opened(s) as rt:
        async def record(events: list[ev.Event]) -> None:
            async with rt.storage.transaction() as tx:
                await card_diagnoses.project_all(events, tx)

        async def said() -> str:
            async with rt.storage.transaction() as tx:
                return await card_diagnoses.on_card(tx, PATIENT, "I10")

        ids = [uuid4() for _ in range(4)]
        await record([ev.EntryEnteredInError(patient=PATIENT, entry_id=ids[0], kind="diagnosis",
                                             entry_version=2, reason="x"), _recorded(ids[0], "I10", "confirmed")])
        assert await said() == "entered_in_error"
        await record([_recorded(ids[1], "I10", "refuted")])
        assert await said() == "refuted"
        await record([_recorded(uuid4(), "I10", "provisional") for _ in range(40)])  # forty visits
        assert await said() == "provisional"
        await record([_recorded(ids[2], "I10", "confirmed"), _recorded(ids[3], "E11.9", "confirmed")])
        assert await said() == "confirmed"
        await record([_recorded(ids[2], "I10", "refuted", version=2)])  # the only confirmed one refuted
        assert await said() == "provisional"
        async with rt.storage.transaction() as tx:  # another patient's word, and a code never recorded
            assert await card_diagnoses.on_card(tx, "30101900000011", "I10") == "absent"
            assert await card_diagnoses.on_card(tx, PATIENT, "J45.9") == "absent"
