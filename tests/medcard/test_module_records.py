"""The card shows what the other modules record for the patient, projected from their events:
prescriptions (erecipe), outpatient visits (polyclinic) and inpatient stays (hospital)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from adapters.signature.dev import DevSignature
from core import events as ev
from core.clock import utcnow
from core.ids import new_id
from host.audit import audit_log
from host.settings import Settings
from plugins.medcard import module_records
from tests.erecipe import rx
from tests.medcard.card import API, VALID, new_patient, seed, settings_for
from tests.polyclinic.world import until
from tests.support import add_facility, add_user, login, opened, serving

MODULES = ("medcard", "erecipe", "polyclinic")


async def _world(db_url: str, keys: Path) -> Settings:
    settings = Settings(database_url=db_url, run_relay=True, relay_poll_seconds=0.2, modules=MODULES,
                        signature_adapter="dev", signature_dev_keys_dir=str(keys))
    async with opened(settings) as rt:
        await add_facility(rt, "F1", MODULES)
        await rx.load_register(rt)  # prescription lines name medicines of the register
        for user in ("doctor", "pharmacist"):
            await add_user(rt, user, grants=[rx.USERS[user]], pinfl=rx.PINFLS[user])
    return settings


async def _records(client: Any, auth: dict[str, str], pid: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(f"{API}/patients/{pid}/records", params=params, headers=auth)
    assert r.status_code == 200, r.text
    return list(r.json())


async def test_prescriptions_and_visits_reach_the_card_with_their_status(db_url: str, tmp_path: Path) -> None:
    settings = await _world(db_url, tmp_path)
    async with serving(settings) as client:
        auth = await login(client, "doctor")
        pid = await new_patient(client, auth, **rx.PATIENT_CARD)
        doctor = await rx.actor(client, DevSignature(tmp_path), "doctor")
        issued = await rx.issued(doctor)

        async def status_of(kind: str, wanted: str) -> Any:
            found = await _records(client, auth, pid, kind=kind)
            return found if found and found[0]["status"] == wanted else None

        shown = await until(lambda: status_of("prescription", "issued"))
        assert shown[0]["record_id"] == issued["id"] and shown[0]["source"] == "erecipe"
        assert shown[0]["summary"]["number"] == issued["number"]
        assert shown[0]["summary"]["lines"][0]["inn"] == "Amoxicillin"
        assert (await rx.cancel(doctor, issued)).status_code == 200
        cancelled = await until(lambda: status_of("prescription", "cancelled"))
        assert len(cancelled) == 1 and cancelled[0]["summary"]["cancel_reason"] == "allergy reported"

        visit = await client.post("/api/v1/polyclinic/visits", json={"patient_id": pid}, headers=auth)
        assert visit.status_code == 201, visit.text
        vid = visit.json()["id"]
        await until(lambda: status_of("outpatient_visit", "open"))
        dx = {"code": "J06.9", "rank": "primary", "verification": "confirmed",
              "performed_at": utcnow().isoformat(), "encounter_id": vid}
        assert (await client.post(f"{API}/patients/{pid}/diagnoses", json=dx, headers=auth)).status_code == 201

        async def closes() -> Any:
            r = await client.post(f"/api/v1/polyclinic/visits/{vid}/close", json={}, headers=auth)
            return r.status_code == 200  # 409 until the diagnosis reached the visit
        await until(closes)
        closed = await until(lambda: status_of("outpatient_visit", "closed"))
        assert closed[0]["record_id"] == vid and closed[0]["summary"]["diagnosis"] == "J06.9"
        assert closed[0]["summary"]["facility"] == "F1"
        every = await _records(client, auth, pid)
        assert {r["kind"] for r in every} == {"prescription", "outpatient_visit"}
        assert every[0]["kind"] == "outpatient_visit"  # newest first
        refused = await client.get(f"{API}/patients/{pid}/records", headers=await login(client, "pharmacist"))
        assert refused.status_code == 403


async def test_medcard_alone_shows_an_empty_list_and_refuses_pharmacists(db_url: str) -> None:
    settings = settings_for(db_url).with_(run_relay=True)
    await seed(settings)
    async with serving(settings) as client:
        auth = await login(client, "nurse")
        pid = await new_patient(client, auth)
        assert await _records(client, auth, pid) == []
        assert await _records(client, await login(client, "resident"), pid, kind="inpatient_stay") == []
        bad = await client.get(f"{API}/patients/{pid}/records", params={"kind": "lab"}, headers=auth)
        assert bad.status_code == 400
        missing = await client.get(f"{API}/patients/{new_id()}/records", headers=auth)
        assert missing.status_code == 404
        pharmacist = await login(client, "pharmacist")
        assert (await client.get(f"{API}/patients/{pid}/records", headers=pharmacist)).status_code == 403
    async with opened(settings) as rt, rt.storage.transaction() as tx:
        reads = (await tx.execute(select(audit_log.c.login, audit_log.c.patient, audit_log.c.object).where(
            audit_log.c.action == "medcard.entry/read", audit_log.c.detail == "module records: 0"))).all()
    assert sorted(r.login for r in reads) == ["nurse", "resident"]
    assert {(r.patient, r.object) for r in reads} == {(VALID["pinfl"], pid)}


async def test_a_stay_follows_its_events_even_when_delivered_out_of_order(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    pinfl, stay, t0 = "30211975910033", new_id(), utcnow()
    admitted = ev.PatientAdmitted(patient=pinfl, facility="F1", stay_id=stay, patient_id=new_id(),
                                  ward_id=new_id(), bed_id=new_id(), diagnosis="I21.0", occurred_at=t0)
    moved = ev.PatientTransferred(patient=pinfl, facility="F1", stay_id=stay, patient_id=admitted.patient_id,
                                  from_bed=admitted.bed_id, to_ward=new_id(), to_bed=new_id(), reason="ICU",
                                  occurred_at=t0 + timedelta(hours=1))
    home = ev.PatientDischarged(patient=pinfl, facility="F1", stay_id=stay, patient_id=admitted.patient_id,
                                diagnosis="I21.0", outcome="recovered", occurred_at=t0 + timedelta(days=5))
    async with opened(settings) as rt:
        for event in (home, admitted, moved):  # a retry delivered the discharge first
            async with rt.storage.transaction() as tx:
                await module_records.project(event, tx)
        async with rt.storage.transaction() as tx:
            rows = (await tx.execute(module_records.module_records.select())).all()
    assert len(rows) == 1
    row = rows[0]
    assert row.status == "discharged" and row.kind == "inpatient_stay" and row.record_id == stay
    assert row.occurred_at == t0 and row.updated_at == home.occurred_at
    assert row.summary["diagnosis"] == "I21.0" and row.summary["outcome"] == "recovered"
    assert [t["reason"] for t in row.summary["transfers"]] == ["ICU"]


async def test_events_the_card_does_not_project_write_nothing(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    closed = ev.OrderClosed(order_id=new_id(), visit_id=new_id(), entry_id=new_id(), patient="30211975910033")
    async with opened(settings) as rt:
        async with rt.storage.transaction() as tx:
            await module_records.project(closed, tx)
            await module_records.project(ev.PatientRegistered(patient_id=new_id(), surname="A", given_name="B",
                                                              patient="30211975910033"), tx)
            assert (await tx.execute(module_records.module_records.select())).all() == []
