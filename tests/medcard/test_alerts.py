"""Critical results reach a clinician, over HTTP on both databases: a potassium of 7.1 becomes an
alert for the doctor who ordered it, pushed live on their stream and acknowledged once (the second
acknowledgement is a 409); whom the alert goes to when no order is known; escalation to the doctors
on duty driven by the service's clock; the time-to-acknowledge report."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core.pinfl import check_digit
from host.audit import audit_log
from host.settings import Settings
from host.web.app import create_app
from plugins.medcard import alert_stream
from plugins.medcard.config import Settings as CardSettings
from tests.clinical import until
from tests.medcard.card import API, VALID, ago, diagnosis, new_patient
from tests.patient.sse import StreamingTransport, messages, take
from tests.support import ALL_MODULES, add_facility, add_user, login, opened

ALERTS = f"{API}/alerts"
POLY, HOSP = "/api/v1/polyclinic", "/api/v1/hospital"


def pinfl(n: int) -> str:
    """Another man born 1997-11-02, as the card tests' patient."""
    first13 = f"3021197{n:06d}"
    return first13 + str(check_digit(first13))


def settings_for(db_url: str) -> Settings:
    return Settings(database_url=db_url, run_relay=True, relay_poll_seconds=0.1, modules=ALL_MODULES)


async def world(settings: Settings) -> dict[str, Any]:
    """F1 with every module: two doctors, a resident, a nurse; F2 (card only) with its own doctor."""
    ids: dict[str, Any] = {}
    async with opened(settings) as rt:
        await add_facility(rt, "F1", ALL_MODULES)
        await add_facility(rt, "F2", ["medcard"])
        for login_, role in (("doctor", "doctor"), ("doctor2", "doctor"), ("resident", "resident"),
                             ("nurse", "nurse")):
            ids[login_] = await add_user(rt, login_, grants=[("F1", role)])
        ids["far"] = await add_user(rt, "far", grants=[("F2", "doctor")])
    return ids


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    app = create_app(settings)
    async with app.lifespan(), httpx.AsyncClient(transport=StreamingTransport(app),
                                                 base_url="http://shifo.test") as client:
        yield app, client


def ok(response: httpx.Response, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def potassium(client: httpx.AsyncClient, auth: dict[str, str], patient: str, value: float = 7.1,
                    **extra: Any) -> dict[str, Any]:
    body = {"test": "Potassium", "loinc": "2823-3", "value": value, "unit": "mmol/L",
            "performed_at": ago(minutes=5), **extra}
    found: dict[str, Any] = ok(await client.post(f"{API}/patients/{patient}/lab-results", json=body,
                                                 headers=auth))
    return found


async def alerts(client: httpx.AsyncClient, auth: dict[str, str], scope: str = "mine") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(await client.get(ALERTS, params={"show": scope}, headers=auth), 200)
    return found


async def alert_of(client: httpx.AsyncClient, auth: dict[str, str], entry_id: str) -> dict[str, Any]:
    """The facility's open alert of a result, once the relay made it."""
    async def made() -> Any:
        return next((a for a in await alerts(client, auth, "facility") if a["entry_id"] == entry_id), None)
    found: dict[str, Any] = await until(made)
    return found


async def projected(client: httpx.AsyncClient, auth: dict[str, str], patient: str, kind: str, key: str) -> None:
    """Wait until the card's module records show the patient's ``kind`` with ``key`` in its summary."""
    async def seen() -> bool:
        rows = ok(await client.get(f"{API}/patients/{patient}/records", params={"kind": kind}, headers=auth), 200)
        return any(row["summary"].get(key) for row in rows)
    await until(seen)


async def test_a_critical_result_reaches_the_ordering_doctor_live_and_is_acknowledged_once(db_url: str) -> None:
    s = settings_for(db_url)
    ids = await world(s)
    async with app_client(s) as (_, client):
        doc2, res, doc = [await login(client, u) for u in ("doctor2", "resident", "doctor")]  # type: ignore[arg-type]
        pid = await new_patient(client, doc2)
        visit = ok(await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc2))
        ok(await client.post(f"{POLY}/visits/{visit['id']}/referrals", json={"kind": "lab", "code": "2823-3"},
                             headers=doc2))
        await projected(client, doc2, pid, "outpatient_visit", "orders")
        async with client.stream("GET", f"{ALERTS}/stream", headers=doc2) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            stream = messages(response)
            assert (await anext(stream))["retry"] == "3000"
            entry = await potassium(client, res, pid)  # the resident records it, naming nobody
            [message] = await take(stream, 1)
            alert = json.loads(message["data"])
            assert message["event"] == "alert" and message["id"] == alert["id"]
            assert alert["entry_id"] == entry["id"] and alert["value"] == 7.1 and alert["flag"] == "HH"
            assert alert["assigned_to"] == str(ids["doctor2"]) and alert["assigned_by"] == "order"
            assert alert["status"] == "open" and alert["recipients"] == [str(ids["doctor2"])]
            assert [a["id"] for a in await alerts(client, doc2)] == [alert["id"]]
            assert await alerts(client, doc) == []  # not addressed to the other doctor...
            assert [a["id"] for a in await alerts(client, doc, "facility")] == [alert["id"]]  # ...who may see it

            url = f"{ALERTS}/{alert['id']}/acknowledge"
            done = ok(await client.post(url, json={"note": "Repeat K+, ECG, calcium gluconate given"},
                                        headers=doc2), 200)
            assert done["status"] == "acknowledged" and done["acknowledged_by"] == str(ids["doctor2"])
            [gone] = await take(stream, 1)
            assert gone["event"] == "acknowledged" and gone["id"] == alert["id"]
            again = await client.post(url, json={"note": "seen"}, headers=res)
            assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
        assert await alerts(client, doc2) == []
        assert (await client.post(url, json={"note": " "}, headers=doc2)).status_code == 422
        nurse = await login(client, "nurse")  # type: ignore[arg-type]
        assert (await client.post(url, json={"note": "ok"}, headers=nurse)).status_code == 403
        far = await login(client, "far")  # type: ignore[arg-type]
        assert (await client.post(url, json={"note": "ok"}, headers=far)).status_code == 404  # another facility
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        a = audit_log.c
        audited = dict((await tx.execute(select(a.action, func.count()).where(
            a.patient == VALID["pinfl"], a.outcome == "ok", a.action.like("medcard.alert/%")).group_by(a.action))).all())
    assert audited["medcard.alert/acknowledge"] == 1 and audited["medcard.alert/read"] >= 3


async def test_the_alert_goes_to_the_requester_the_encounter_the_order_or_the_author(db_url: str) -> None:
    s = settings_for(db_url)
    ids = await world(s)
    async with app_client(s) as (_, client):
        doc, doc2, res = [await login(client, u) for u in ("doctor", "doctor2", "resident")]  # type: ignore[arg-type]
        ordered, admitted, alone = [await new_patient(client, doc, pinfl=pinfl(n)) for n in (1, 2, 3)]
        visit = ok(await client.post(f"{POLY}/visits", json={"patient_id": ordered}, headers=doc2))
        ok(await client.post(f"{POLY}/visits/{visit['id']}/referrals", json={"kind": "lab", "code": "Potassium"},
                             headers=doc2))
        ok(await client.post(f"{API}/patients/{ordered}/diagnoses", headers=doc2,
                             json=diagnosis("E87.5", encounter_id=visit["id"])))

        async def closed() -> bool:  # once the visit's card holds the diagnosis
            r = await client.post(f"{POLY}/visits/{visit['id']}/close", json={}, headers=doc2)
            return r.status_code == 200
        await until(closed)  # the result comes after the visit closed
        ward = ok(await client.post(f"{HOSP}/wards", json={"name": "ICU", "profile": "icu", "beds": ["1"]},
                                    headers=doc))
        stay = ok(await client.post(f"{HOSP}/stays", headers=doc, json={
            "patient_id": admitted, "bed_id": ward["beds"][0]["id"], "diagnosis": "N17.9"}))
        await projected(client, doc, ordered, "outpatient_visit", "closed_at")
        await projected(client, doc, admitted, "inpatient_stay", "attending")
        cases = {
            "order": await potassium(client, res, ordered),
            "encounter": await potassium(client, res, admitted, encounter_id=stay["id"]),
            "requester": await potassium(client, res, alone, requested_by=str(ids["doctor2"])),
            "author": await potassium(client, res, alone, value=1.9),
        }
        expected = {"order": ids["doctor2"], "encounter": ids["doctor"], "requester": ids["doctor2"],
                    "author": ids["resident"]}
        for why, entry in cases.items():
            alert = await alert_of(client, doc, entry["id"])
            assert (alert["assigned_by"], alert["assigned_to"]) == (why, str(expected[why])), why
        normal = await potassium(client, res, alone, value=4.2)
        await alert_of(client, doc, cases["author"]["id"])
        assert all(a["entry_id"] != normal["id"] for a in await alerts(client, doc, "facility"))


async def test_an_unacknowledged_alert_escalates_to_the_doctors_on_duty_by_the_clock(db_url: str) -> None:
    s = settings_for(db_url)
    ids = await world(s)
    async with app_client(s) as (app, client):
        doc, doc2, res, far = [await login(client, u) for u in ("doctor", "doctor2", "resident", "far")]  # type: ignore[arg-type]
        pid = await new_patient(client, doc)
        other = await new_patient(client, far, pinfl=pinfl(4))
        ok(await client.post(f"{API}/patients/{other}/indicators", headers=far,
                             json={"code": "pulse", "value": 70, "performed_at": ago(minutes=1)}))
        ok(await client.post(f"{API}/patients/{pid}/indicators", headers=res,  # the resident works today
                             json={"code": "pulse", "value": 80, "performed_at": ago(minutes=1)}))
        alert = await alert_of(client, doc, (await potassium(client, doc, pid))["id"])
        assert alert["assigned_by"] == "author" and alert["recipients"] == [str(ids["doctor"])]
        raised = datetime.fromisoformat(alert["raised_at"])
        service = app.state.runtime.services["medcard.alerts"]
        await service.stop_background()  # only this test's sweeps, at the times it sets
        assert service.settings.escalate_after == timedelta(minutes=30)
        async with client.stream("GET", f"{ALERTS}/stream", headers=res) as response:
            stream = messages(response)
            await anext(stream)
            service.clock = lambda: raised + timedelta(minutes=29)
            assert await service.sweep() == 0  # not yet
            assert await alerts(client, res) == []
            service.clock = lambda: raised + timedelta(minutes=31)
            assert await service.sweep() == 1
            [message] = await take(stream, 1)  # pushed live to the resident on duty
        escalated = json.loads(message["data"])
        assert escalated["id"] == alert["id"] and escalated["escalated_at"] is not None
        assert escalated["recipients"] == [str(ids["doctor"]), str(ids["resident"])]
        assert str(ids["far"]) not in escalated["recipients"]  # on duty elsewhere
        assert str(ids["doctor2"]) not in escalated["recipients"]  # recorded nothing here today
        assert await service.sweep() == 0  # once
        assert [a["id"] for a in await alerts(client, res)] == [alert["id"]]
        async with client.stream("GET", f"{ALERTS}/stream", headers=res) as response:
            stream = messages(response)
            await anext(stream)
            [first] = await take(stream, 1)  # on connect: the open alerts, read from the database
        assert first["event"] == "alert" and json.loads(first["data"])["id"] == alert["id"]
        service.clock = lambda: raised + timedelta(minutes=40)
        ok(await client.post(f"{ALERTS}/{alert['id']}/acknowledge", json={"note": "called the ward"},
                             headers=res), 200)
        for minutes, value in ((1, 7.4), (2, 1.8), (10, 7.9)):
            made = await alert_of(client, doc, (await potassium(client, doc, pid, value=value))["id"])
            service.clock = lambda m=minutes, a=made: datetime.fromisoformat(a["raised_at"]) + timedelta(minutes=m)
            ok(await client.post(f"{ALERTS}/{made['id']}/acknowledge", json={"note": "done"}, headers=doc), 200)
        await alert_of(client, doc, (await potassium(client, doc, pid, value=8.0))["id"])  # left open
        service.clock = lambda: raised + timedelta(hours=2)
        report = ok(await client.get(f"{ALERTS}/report", headers=doc2), 200)
        assert report["facility"] == "F1" and report["count"] == 5 and report["acknowledged"] == 4
        assert report["unacknowledged"] == 1 and report["escalated"] == 1
        assert report["median_seconds"] == 360 and report["p90_seconds"] == 2400
        assert report["max_seconds"] == 2400
        assert ok(await client.get(f"{ALERTS}/report", headers=far), 200)["count"] == 0  # per facility
        for bad in ({"since": "2026-01-01T00:00:00"}, {"until": "0001-01-01T00:00:00Z"}):
            assert (await client.get(f"{ALERTS}/report", params=bad, headers=doc)).status_code == 422


async def test_the_stream_ends_with_the_callers_clinical_role_and_refuses_strangers(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alert_stream, "CHECK_SECONDS", 0.1)
    s = settings_for(db_url)
    ids = await world(s)
    async with app_client(s) as (app, client):
        assert (await client.get(f"{ALERTS}/stream")).status_code == 401
        far = await login(client, "far")  # type: ignore[arg-type]
        assert (await client.get(f"{ALERTS}/stream", headers={**far, "X-Facility": "F1"})).status_code == 403
        doc = await login(client, "doctor")  # type: ignore[arg-type]
        async with client.stream("GET", f"{ALERTS}/stream", headers=doc) as response:
            stream = messages(response)
            await anext(stream)
            await app.state.runtime.identity.set_status(ids["doctor"], "suspended")
            async with asyncio.timeout(3):
                assert [m async for m in stream if "data" in m] == []  # it ended, sending nothing


async def test_the_stream_ends_when_the_clinician_signs_out(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A logout revokes the token; the open stream notices within its check interval and ends,
    though the account keeps its roles (the suspension test above would not catch this)."""
    monkeypatch.setattr(alert_stream, "CHECK_SECONDS", 0.1)
    s = settings_for(db_url)
    await world(s)
    async with app_client(s) as (_app, client):
        doc = await login(client, "doctor")  # type: ignore[arg-type]
        async with client.stream("GET", f"{ALERTS}/stream", headers=doc) as response:
            stream = messages(response)
            await anext(stream)
            assert (await client.post("/api/v1/auth/logout", headers=doc)).status_code in (200, 204)
            async with asyncio.timeout(3):
                assert [m async for m in stream if "data" in m] == []  # it ended, sending nothing
        assert (await client.get(f"{ALERTS}/stream", headers=doc)).status_code == 401


def test_the_escalation_time_is_a_checked_setting() -> None:
    assert CardSettings(alert_escalate_minutes=5).escalate_after == timedelta(minutes=5)
    assert CardSettings().duty == timedelta(hours=12)
    for bad in (0, -1, 24 * 60 + 1):
        with pytest.raises(ValueError, match="alert_escalate_minutes"):
            CardSettings(alert_escalate_minutes=bad)
