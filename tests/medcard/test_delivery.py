"""The real modules receive each card entry right after commit: the polyclinic's visit card, the
hospital's stay card and the prescription module's view of the card's diagnoses all show it; and
a deployment with the card and prescriptions only records entries and delivers them all the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from host.relay import Relay
from host.settings import Settings
from tests.erecipe import rx
from tests.medcard.card import API, VALID, diagnosis, new_patient, pulse
from tests.polyclinic.world import HOSP, POLY, now_iso, until
from tests.support import ALL_MODULES, add_facility, add_user, login, opened, serving

SOON = 2.0  # seconds: the relay wakes on commit (its polling interval below is far longer)


async def _deployment(db_url: str, keys: Path, modules: tuple[str, ...]) -> Settings:
    settings = Settings(database_url=db_url, run_relay=True, relay_poll_seconds=30.0, modules=modules,
                        signature_adapter="dev", signature_dev_keys_dir=str(keys))
    async with opened(settings) as rt:
        if "erecipe" in modules:
            await rx.load_register(rt)  # prescription lines name medicines of the register
        await add_facility(rt, "F1", modules)
        await add_user(rt, "doctor", grants=[rx.USERS["doctor"]], pinfl=rx.PINFLS["doctor"])
        await add_user(rt, "nurse", grants=[rx.USERS["nurse"]], pinfl=rx.PINFLS["nurse"])
    return settings


async def _on_card(doctor: rx.Actor, prescriptions: dict[str, dict[str, Any]]) -> dict[str, str]:
    """What the prescription module now says the card records of each prescription's diagnosis."""
    return {code: (await doctor.get(f"/prescriptions/{p['id']}")).json()["diagnosis_on_card"]
            for code, p in prescriptions.items()}


async def test_each_entry_reaches_polyclinic_hospital_and_prescriptions(db_url: str, tmp_path: Path) -> None:
    settings = await _deployment(db_url, tmp_path, ALL_MODULES)
    async with serving(settings) as client:
        doctor = await rx.actor(client, rx.DevSignature(tmp_path), "doctor")
        auth, nurse = doctor.headers, await login(client, "nurse")
        pid = await new_patient(client, auth)
        # Issued before the card has anything: the diagnoses are absent from it, so allowed.
        issued = {code: await rx.issued(doctor, patient_pinfl=VALID["pinfl"], diagnosis=code)
                  for code in ("I10", "J06.9")}
        assert await _on_card(doctor, issued) == {"I10": "absent", "J06.9": "absent"}
        visit = await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=auth)
        assert visit.status_code == 201, visit.text
        ward = await client.post(f"{HOSP}/wards", headers=auth,
                                 json={"name": "A", "profile": "therapy", "beds": ["A-1"]})
        stay = await client.post(f"{HOSP}/stays", headers=auth, json={
            "patient_id": pid, "bed_id": ward.json()["beds"][0]["id"], "diagnosis": "I10"})
        assert stay.status_code == 201, stay.text
        vid, sid = visit.json()["id"], stay.json()["id"]

        # Recorded at F1 with no encounter named, performed now: they belong to the open visit and the
        # stay (both at F1, both open at that moment).
        card = f"{API}/patients/{pid}"
        dx = await client.post(f"{card}/diagnoses", headers=auth,
                               json=diagnosis("I10", verification="confirmed", performed_at=now_iso()))
        no = await client.post(f"{card}/diagnoses", headers=auth, json=diagnosis(
            "J06.9", rank="secondary", verification="refuted", performed_at=now_iso()))
        vital = await client.post(f"{card}/indicators", json=pulse(88, performed_at=now_iso()), headers=nurse)
        assert {dx.status_code, no.status_code, vital.status_code} == {201}
        wanted = {dx.json()["id"], no.json()["id"], vital.json()["id"]}

        async def everywhere() -> Any:
            visit_card = (await client.get(f"{POLY}/visits/{vid}/card", headers=auth)).json()
            stay_card = (await client.get(f"{HOSP}/stays/{sid}/card", headers=auth)).json()
            held = [{e["entry_id"] for e in c["diagnoses"] + c["indicators"]} for c in (visit_card, stay_card)]
            said = await _on_card(doctor, issued)
            return all(h == wanted for h in held) and said == {"I10": "confirmed", "J06.9": "refuted"}
        await until(everywhere, timeout=SOON)

        again = await doctor.post("/prescriptions/drafts",
                                  rx.draft_body(patient_pinfl=VALID["pinfl"], diagnosis="J06.9"))
        assert again.status_code == 422 and "refuted" in again.json()["detail"]
        fine = await doctor.post("/prescriptions/drafts", rx.draft_body(patient_pinfl=VALID["pinfl"],
                                                                        diagnosis="I10"))
        assert fine.status_code == 201, fine.text


async def test_card_and_prescriptions_alone_still_deliver(db_url: str, tmp_path: Path) -> None:
    settings = await _deployment(db_url, tmp_path, ("medcard", "erecipe"))
    async with serving(settings) as client:
        doctor = await rx.actor(client, rx.DevSignature(tmp_path), "doctor")
        pid = await new_patient(client, doctor.headers)
        issued = {"K21.0": await rx.issued(doctor, patient_pinfl=VALID["pinfl"], diagnosis="K21.0")}
        card = f"{API}/patients/{pid}"
        dx = await client.post(f"{card}/diagnoses", json=diagnosis("K21.0", verification="provisional"),
                               headers=doctor.headers)
        assert dx.status_code == 201, dx.text
        assert (await client.post(f"{card}/indicators", json=pulse(), headers=doctor.headers)).status_code == 201
        timeline = (await client.get(f"{card}/entries", headers=doctor.headers)).json()["items"]
        assert {e["kind"] for e in timeline} >= {"diagnosis", "indicator"}

        async def provisional() -> bool:
            return await _on_card(doctor, issued) == {"K21.0": "provisional"}
        await until(provisional, timeout=SOON)
        gone = await client.post(f"{card}/diagnoses/{dx.json()['id']}/entered-in-error", headers=doctor.headers,
                                 json={"version": 1, "reason": "recorded for the wrong patient"})
        assert gone.status_code in (200, 201), gone.text

        async def in_error() -> bool:
            return await _on_card(doctor, issued) == {"K21.0": "entered_in_error"}
        await until(in_error, timeout=SOON)
        refused = await doctor.post("/prescriptions/drafts",
                                    rx.draft_body(patient_pinfl=VALID["pinfl"], diagnosis="K21.0"))
        assert refused.status_code == 422 and "entered in error" in refused.json()["detail"]


async def test_a_batch_of_entries_reaches_each_patients_own_visit_and_stay(db_url: str, tmp_path: Path) -> None:
    """Entries of two patients committed before the relay runs reach it as one batch: each lands on
    its own patient's open visit, and only the patient in hospital's go to the stay (the modules'
    batch handlers match a whole batch with one query)."""
    settings = (await _deployment(db_url, tmp_path, ALL_MODULES)).with_(run_relay=False)
    async with serving(settings) as client:
        auth = await login(client, "doctor")
        a = await new_patient(client, auth)
        b = await new_patient(client, auth, pinfl="40101990000011", given_name="Dilnoza",
                              sex="female", birth_date="1999-01-01")
        ward = await client.post(f"{HOSP}/wards", headers=auth,
                                 json={"name": "A", "profile": "therapy", "beds": ["A-1"]})
        stay = await client.post(f"{HOSP}/stays", headers=auth, json={
            "patient_id": a, "bed_id": ward.json()["beds"][0]["id"], "diagnosis": "I10"})
        visits = {p: await client.post(f"{POLY}/visits", json={"patient_id": p}, headers=auth) for p in (a, b)}
        assert stay.status_code == 201 and {v.status_code for v in visits.values()} == {201}
        recorded: dict[str, set[str]] = {a: set(), b: set()}
        for n in range(6):
            p = (a, b)[n % 2]
            r = await client.post(f"{API}/patients/{p}/indicators", headers=auth,
                                  json=pulse(70 + n, performed_at=now_iso()))
            assert r.status_code == 201, r.text
            recorded[p].add(r.json()["id"])
        async with opened(settings) as rt:
            assert await Relay(rt.storage, rt.handlers).drain() > 6  # the visits, the stay, six entries
        for p, visit in visits.items():
            card = (await client.get(f"{POLY}/visits/{visit.json()['id']}/card", headers=auth)).json()
            assert {e["entry_id"] for e in card["indicators"]} == recorded[p]
        stay_card = (await client.get(f"{HOSP}/stays/{stay.json()['id']}/card", headers=auth)).json()
        assert {e["entry_id"] for e in stay_card["indicators"]} == recorded[a]
