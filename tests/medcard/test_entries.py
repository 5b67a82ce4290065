"""Recording entries over HTTP: validation per kind, future refusal, late flag, BMI, versions."""

from __future__ import annotations

from tests.medcard.card import API, ago, diagnosis, ecg, lab, new_patient, pulse, seed, settings_for
from tests.support import login, serving


async def test_each_kind_is_validated_and_nothing_bad_is_written(db_url: str) -> None:
    settings = settings_for(db_url, extra={"medcard": {"late_after_hours": 2}})
    await seed(settings)
    async with serving(settings) as client:
        auth = await login(client, "doctor")
        pid = await new_patient(client, auth)
        card = f"{API}/patients/{pid}"
        ok = await client.post(f"{card}/indicators", json=pulse(), headers=auth)
        assert ok.status_code == 201 and ok.json()["data"]["loinc"] == "8867-4"
        assert ok.json()["late"] is False and ok.json()["version"] == 1
        refused = [
            ("indicators", pulse(19)), ("indicators", pulse(301)),
            ("indicators", {"code": "temperature", "value": 46, "performed_at": ago(minutes=1)}),
            ("indicators", {"code": "blood_pressure", "systolic": 80, "diastolic": 90,
                            "performed_at": ago(minutes=1)}),
            ("indicators", pulse(performed_at=ago(minutes=-10))),  # ten minutes ahead
            ("indicators", pulse(performed_at="2026-01-01T10:00:00")),  # no timezone
            ("indicators", pulse(performed_at="1990-01-01T10:00:00+05:00")),  # before birth (1997)
            ("diagnoses", diagnosis("U99.9")), ("diagnoses", diagnosis("J00-J06")),
            ("lab-results", lab(loinc="2823-4")), ("lab-results", lab(unit="mg/dL")),
            ("instrumental-results", ecg(modality="pet")),
            ("instrumental-results", ecg(attachments=[{"uri": "javascript:alert(1)"}])),
        ]
        for path, body in refused:
            r = await client.post(f"{card}/{path}", json=body, headers=auth)
            assert r.status_code in (400, 422), (path, body, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        late = await client.post(f"{card}/indicators", json=pulse(performed_at=ago(hours=3)), headers=auth)
        assert late.json()["late"] is True  # 3 h > the configured 2 h
        dx = await client.post(f"{card}/diagnoses", json=diagnosis("j069"), headers=auth)
        assert dx.status_code == 201 and dx.json()["code"] == "J06.9"
        assert dx.json()["data"]["display"] == "Acute upper respiratory infection, unspecified"
        visit = "01900000-0000-7000-8000-000000000001"
        one = await client.post(f"{card}/diagnoses", json=diagnosis("I10", encounter_id=visit),
                                headers=auth)
        two = await client.post(f"{card}/diagnoses", json=diagnosis("E11.9", encounter_id=visit),
                                headers=auth)
        assert one.status_code == 201 and two.status_code == 409  # one primary diagnosis per visit
        flagged = await client.post(f"{card}/lab-results", json=lab(7.0), headers=auth)
        assert flagged.json()["data"]["flag"] == "HH" and flagged.json()["data"]["critical"] is True
        study = await client.post(f"{card}/instrumental-results", json=ecg(), headers=auth)
        assert study.status_code == 201 and study.json()["data"]["measurements"][0]["name"] == "QTc"
        alias = await client.post(f"{card}/entries", headers=auth,
                                  json={"kind": "indicator", **pulse(80)})
        assert alias.status_code == 201
        page = (await client.get(f"{card}/entries", params={"limit": 200}, headers=auth)).json()
        assert sorted(e["kind"] for e in page["items"]) == ["diagnosis", "diagnosis", "indicator",
                                                            "indicator", "indicator", "instrumental", "lab"]


async def test_bmi_is_derived_from_weight_and_height(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        auth = await login(client, "nurse")
        pid = await new_patient(client, auth)
        card = f"{API}/patients/{pid}/indicators"
        alone = await client.post(card, headers=auth, json={"code": "weight", "value": 80,
                                                            "performed_at": ago(minutes=30)})
        assert "bmi" not in alone.json()["data"]
        height = await client.post(card, headers=auth, json={"code": "height", "value": 180,
                                                             "performed_at": ago(minutes=20)})
        bmi = height.json()["data"]["bmi"]
        assert bmi["value"] == 24.7 and bmi["unit"] == "kg/m2" and bmi["from_entry"] == alone.json()["id"]


async def test_corrections_keep_history_and_errors_leave_the_card(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        auth = await login(client, "doctor")
        pid = await new_patient(client, auth)
        card = f"{API}/patients/{pid}"
        first = (await client.post(f"{card}/diagnoses", json=diagnosis(), headers=auth)).json()
        eid = first["id"]
        fix = {"version": 1, "reason": "confirmed by culture",
               "entry": diagnosis("J02.0", verification="confirmed")}
        second = await client.post(f"{card}/diagnoses/{eid}/versions", json=fix, headers=auth)
        assert second.status_code == 201, second.text
        assert second.json()["id"] == eid and second.json()["version"] == 2
        assert second.json()["reason"] == "confirmed by culture"
        stale = await client.post(f"{card}/diagnoses/{eid}/versions", json=fix, headers=auth)
        assert stale.status_code == 409
        wrong_kind = await client.post(f"{card}/lab-results/{eid}/versions", headers=auth,
                                       json={"version": 2, "reason": "oops", "entry": lab()})
        assert wrong_kind.status_code == 404
        elsewhere = await login(client, "doctor2")
        foreign = await client.post(f"{card}/diagnoses/{eid}/versions", headers=elsewhere,
                                    json={**fix, "version": 2})
        assert foreign.status_code == 403  # F2 did not record it
        timeline = (await client.get(f"{card}/entries", headers=auth)).json()["items"]
        assert [(e["id"], e["version"], e["code"]) for e in timeline] == [(eid, 2, "J02.0")]
        history = (await client.get(f"{card}/entries/{eid}/history", headers=auth)).json()
        assert [(h["version"], h["status"], h["code"]) for h in history] == [
            (1, "superseded", "J06.9"), (2, "current", "J02.0")]
        gone = await client.post(f"{card}/diagnoses/{eid}/entered-in-error", headers=auth,
                                 json={"version": 2, "reason": "wrong patient"})
        assert gone.status_code == 201 and gone.json()["status"] == "entered_in_error"
        assert (await client.get(f"{card}/entries", headers=auth)).json()["items"] == []
        everything = (await client.get(f"{card}/entries", params={"history": "true"}, headers=auth)).json()
        statuses = sorted(e["status"] for e in everything["items"])
        assert statuses == ["entered_in_error", "superseded", "superseded"]
        again = await client.post(f"{card}/diagnoses/{eid}/versions", headers=auth,
                                  json={**fix, "version": 3})
        assert again.status_code == 409
        latest = (await client.get(f"{card}/entries/{eid}", headers=auth)).json()
        assert latest["status"] == "entered_in_error" and latest["reason"] == "wrong patient"
