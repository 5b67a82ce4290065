"""Each patient-app route for its owner: the card, the indicator series, the history pages, the
visits and stays with their cards, the prescriptions with what was dispensed and what remains."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.clock import utcnow
from host.audit import audit_log
from tests.clinical import MEDCARD, signer_for, until
from tests.patient.world import NO_CARD, PATIENT_API, build, seed, settings_for
from tests.support import login, opened, serving


async def test_the_card_series_visits_stays_and_prescriptions_of_the_owner(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path / "keys")
    await seed(settings, patients=1)
    async with serving(settings) as client:
        (me,) = await build(client, signer_for(settings), patients=1)
        doc, nurse = me["headers"]["doctor"], me["headers"]["nurse"]
        later = {"code": "pulse", "value": 76, "performed_at": (utcnow() - timedelta(minutes=5)).isoformat()}
        r = await client.post(f"{MEDCARD}/patients/{me['patient_id']}/indicators", json=later, headers=nurse)
        assert r.status_code == 201, r.text

        async def get(path: str, **params: Any) -> Any:
            r = await client.get(f"{PATIENT_API}{path}", params=params, headers=me["token"])
            assert r.status_code == 200, r.text
            return r.json()

        mine = await get("/card")
        assert mine["patient"]["pinfl"] == me["pinfl"] and mine["patient"]["surname"] == "Usmonov"
        assert [(d["icd10"], d["verification"]) for d in mine["diagnoses"]] == [("I10", "confirmed")]
        latest = {s["name"]: s for s in mine["latest_indicators"]}
        assert [p["value"] for p in latest["pulse"]["points"]] == [76]  # the newest of 88 then 76
        assert latest["blood_pressure"]["points"][0] | {"at": None} == {
            "at": None, "entry_id": me["bp_id"], "systolic": 150, "diastolic": 95}
        results = {r["kind"]: r for r in mine["results"]}
        assert results["lab"]["flag"] == "H" and results["lab"]["value"] == 5.8
        assert results["lab"]["entry_id"] == me["lab_id"] and results["lab"]["unit"] == "mmol/L"
        assert results["instrumental"]["conclusion"].startswith("Sinus rhythm")
        assert results["instrumental"]["attachments"][0]["title"] == "ECG trace"

        series = await get("/card/indicators")
        pulse = next(s for s in series if s["name"] == "pulse")
        assert (pulse["code"], pulse["unit"]) == ("8867-4", "/min")
        assert [p["value"] for p in pulse["points"]] == [88, 76]  # oldest first, ready to plot
        assert [p["at"] for p in pulse["points"]] == sorted(p["at"] for p in pulse["points"])
        bp = next(s for s in series if s["name"] == "blood_pressure")
        assert bp["code"] == "85354-9" and bp["points"][0]["systolic"] == 150
        only = await get("/card/indicators", name="pulse")
        assert [s["name"] for s in only] == ["pulse"]
        assert await get("/card/indicators", name="pulse", until=pulse["points"][1]["at"]) == [
            {**pulse, "points": pulse["points"][:1]}]

        visits = await get("/visits")
        assert [(v["id"], v["status"], v["final_diagnosis"], v["facility"]) for v in visits] == [
            (me["visit_id"], "closed", "I10", "F1")]
        outpatient = await get(f"/visits/{me['visit_id']}/card")
        assert outpatient["visit"]["id"] == me["visit_id"]
        assert [d["entry_id"] for d in outpatient["diagnoses"]] == [me["diagnosis_id"]]
        stays = await get("/stays")
        assert [(s["id"], s["status"], s["outcome"]) for s in stays] == [(me["stay_id"], "discharged", "improved")]
        inpatient = await get(f"/stays/{me['stay_id']}/card")
        assert inpatient["stay"]["summary"] == "Blood pressure controlled."

        async def listed() -> Any:
            return await get("/prescriptions")
        (rx,) = await until(listed)
        assert (rx["id"], rx["number"], rx["status"], rx["valid"]) == (
            me["rx_id"], me["rx_number"], "partially_dispensed", True)
        assert rx["prescriber"] == "Doctor" and rx["diagnosis"] == "I10"
        assert [(ln["inn"], ln["quantity"], ln["remaining"]) for ln in rx["lines"]] == [("Amlodipine", 30, 20)]
        assert [(d["pharmacy"], [i["quantity"] for i in d["items"]]) for d in rx["dispenses"]] == [("F1", [10])]
        assert await get(f"/prescriptions/{me['rx_id']}") == rx

        unknown = await client.get(f"{PATIENT_API}/prescriptions/{me['patient_id']}", headers=me["token"])
        assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/problem")
        naive = await client.get(f"{PATIENT_API}/card/indicators", params={"since": "2026-01-01T00:00:00"},
                                 headers=me["token"])
        assert naive.status_code in (400, 422)
        await _no_card_yet(client)
        await client.get(f"{MEDCARD}/patients/{me['patient_id']}/entries", headers=doc)

    async with opened(settings) as rt, rt.storage.transaction(readonly=True) as tx:
        actions = {r.action for r in await tx.execute(
            select(audit_log).where(audit_log.c.patient == me["pinfl"], audit_log.c.login == "patient1"))}
    assert {"medcard.card/read", "polyclinic.visit/read", "hospital.stay/read",
            "erecipe.prescription/read"} <= actions


async def _no_card_yet(client: Any) -> None:
    token = await login(client, NO_CARD)
    assert (await client.get(f"{PATIENT_API}/card", headers=token)).status_code == 404
    assert (await client.get(f"{PATIENT_API}/history", headers=token)).status_code == 404
    assert (await client.get(f"{PATIENT_API}/visits", headers=token)).json() == []
    assert (await client.get(f"{PATIENT_API}/prescriptions", headers=token)).json() == []


async def test_the_history_pages_newest_first_without_repeats(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path / "keys")
    await seed(settings, patients=1)
    async with serving(settings) as client:
        (me,) = await build(client, signer_for(settings), patients=1)

        async def complete() -> Any:
            r = await client.get(f"{PATIENT_API}/history", params={"limit": 200}, headers=me["token"])
            assert r.status_code == 200 and r.json()["next"] is None
            return r if len(r.json()["items"]) == 8 else None  # 5 entries; a visit, a stay, a prescription
        whole = await until(complete)
        everything = [e["id"] for e in whole.json()["items"]]
        entries = {e["id"] for e in whole.json()["items"] if "record_id" not in e}
        assert entries == {me[k] for k in ("bp_id", "pulse_id", "diagnosis_id", "lab_id", "ecg_id")}
        records = {(e["kind"], e["record_id"]) for e in whole.json()["items"] if "record_id" in e}
        assert records == {("outpatient_visit", me["visit_id"]), ("inpatient_stay", me["stay_id"]),
                           ("prescription", me["rx_id"])}

        seen, after = [], None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"after": after} if after else {})}
            page = (await client.get(f"{PATIENT_API}/history", params=params, headers=me["token"])).json()
            assert len(page["items"]) <= 2
            seen += [e["id"] for e in page["items"]]
            if not (after := page["next"]):
                break
        assert seen == everything
        at = [e["performed_at"] for e in whole.json()["items"]]
        assert at == sorted(at, reverse=True)
        labs = (await client.get(f"{PATIENT_API}/history", params={"kind": "lab"}, headers=me["token"])).json()
        assert [e["id"] for e in labs["items"]] == [me["lab_id"]]
        stays = (await client.get(f"{PATIENT_API}/history", params={"kind": "inpatient_stay"},
                                  headers=me["token"])).json()
        assert [e["record_id"] for e in stays["items"]] == [me["stay_id"]]
        bad = await client.get(f"{PATIENT_API}/history", params={"after": "not-a-cursor"}, headers=me["token"])
        assert bad.status_code in (400, 422)
