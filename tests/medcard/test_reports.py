"""Facility reports: late entries per facility and per user; what the card sees is incomplete."""

from __future__ import annotations

from tests.medcard.card import API, ago, diagnosis, lab, new_patient, pulse, seed, settings_for
from tests.support import login, serving


async def test_late_entries_per_facility_and_user(db_url: str) -> None:
    settings = settings_for(db_url)  # default delay: 24 hours
    ids = await seed(settings)
    async with serving(settings) as client:
        doctor, nurse = await login(client, "doctor"), await login(client, "nurse")
        pid = await new_patient(client, doctor)
        card = f"{API}/patients/{pid}/indicators"
        for auth, hours in ((nurse, 30), (nurse, 48), (doctor, 25), (doctor, 2)):
            r = await client.post(card, json=pulse(performed_at=ago(hours=hours)), headers=auth)
            assert r.json()["late"] is (hours > 24)
        elsewhere = await login(client, "doctor2")
        await client.post(card, json=pulse(performed_at=ago(hours=40)), headers=elsewhere)  # F2's
        report = (await client.get(f"{API}/reports/late-entries", headers=doctor)).json()
        assert report["facility"] == "F1" and report["late_after_hours"] == 24
        counts = {(u["author"], u["role"]): u["late_entries"] for u in report["by_user"]}
        assert counts == {(str(ids["nurse"]), "nurse"): 2, (str(ids["doctor"]), "doctor"): 1}
        assert len(report["entries"]) == 3 and all(e["delay_hours"] > 24 for e in report["entries"])
        mine = (await client.get(f"{API}/reports/late-entries", headers=doctor,
                                 params={"author": str(ids["doctor"])})).json()
        assert [e["entry"]["author"] for e in mine["entries"]] == [str(ids["doctor"])]
        f2 = (await client.get(f"{API}/reports/late-entries", headers=elsewhere)).json()
        assert f2["facility"] == "F2" and len(f2["entries"]) == 1


async def test_completeness_lists_unconfirmed_diagnoses_and_pending_labs(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        auth = await login(client, "doctor")
        pid = await new_patient(client, auth)
        card = f"{API}/patients/{pid}"
        old = (await client.post(f"{card}/diagnoses", headers=auth,
                                 json=diagnosis(performed_at=ago(days=30)))).json()
        await client.post(f"{card}/diagnoses", headers=auth,  # recent: not yet stale
                          json=diagnosis("I10", rank="secondary", performed_at=ago(days=1)))
        await client.post(f"{card}/diagnoses", headers=auth,
                          json=diagnosis("E11.9", rank="secondary", verification="confirmed",
                                         performed_at=ago(days=30)))
        order = (await client.post(f"{card}/lab-results", json=lab(None), headers=auth)).json()
        assert order["data"]["flag"] is None
        await client.post(f"{card}/lab-results", json=lab(4.0), headers=auth)
        report = (await client.get(f"{API}/reports/completeness", headers=auth)).json()
        assert [e["id"] for e in report["unconfirmed_diagnoses"]] == [old["id"]]
        assert [e["id"] for e in report["pending_lab_results"]] == [order["id"]]
        done = {"version": 1, "reason": "result arrived", "entry": lab(4.4)}
        r = await client.post(f"{card}/lab-results/{order['id']}/versions", json=done, headers=auth)
        assert r.status_code == 201 and r.json()["data"]["flag"] == "N"
        report = (await client.get(f"{API}/reports/completeness", headers=auth,
                                   params={"stale_after_days": 0})).json()
        assert report["pending_lab_results"] == [] and len(report["unconfirmed_diagnoses"]) == 2
        nurse = await login(client, "nurse")
        assert (await client.get(f"{API}/reports/completeness", headers=nurse)).status_code == 403
        assert (await client.post(f"{card}/indicators", json=pulse(), headers=nurse)).status_code == 201
