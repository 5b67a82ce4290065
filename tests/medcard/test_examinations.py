"""An examination in one request (``POST /patients/{id}/examinations``): several entries in one
transaction, each with its own event, audit entry and kind's permission; all or nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from adapters.storage.tables import outbox
from core.events import EntryRecorded, decode_event
from core.pinfl import check_digit
from host.audit import audit_log
from tests.medcard.card import (
    API,
    VALID,
    ago,
    complaint,
    diagnosis,
    finding,
    new_patient,
    pulse,
    seed,
    settings_for,
)
from tests.support import login, opened, serving

OTHER = "3150585000001"  # a second patient: a man born 15 May 1985
OTHER_PINFL = OTHER + str(check_digit(OTHER))
VISIT = "01900000-0000-7000-8000-000000000001"


def kind(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"kind": name, **body}


def vitals() -> list[dict[str, Any]]:
    at = ago(minutes=5)
    return [kind("indicator", {"code": "blood_pressure", "systolic": 128, "diastolic": 82, "performed_at": at}),
            kind("indicator", pulse(74)),
            kind("indicator", {"code": "temperature", "value": 37.9, "performed_at": at})]


async def _sent_and_audited(settings: Any) -> tuple[list[EntryRecorded], list[Any]]:
    async with opened(settings) as rt, rt.storage.transaction(readonly=True) as tx:
        rows = (await tx.execute(select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.seq))).all()
        a = audit_log.c
        audited = (await tx.execute(select(a.action, a.patient, a.object, a.outcome).where(
            a.action.like("medcard.%/record")).order_by(a.seq))).all()
    sent = [decode_event(r.event_type, r.payload) for r in rows]
    return [e for e in sent if isinstance(e, EntryRecorded)], list(audited)


async def test_an_examination_records_every_entry_with_its_event_and_audit(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        doctor, nurse = await login(client, "doctor"), await login(client, "nurse")
        pid = await new_patient(client, doctor)
        url = f"{API}/patients/{pid}/examinations"
        body = [kind("diagnosis", diagnosis()), *vitals(), kind("complaint", complaint()),
                kind("finding", finding())]
        r = await client.post(url, json={"entries": body}, headers=doctor)
        assert r.status_code == 201, r.text
        got = r.json()["entries"]
        assert [e["kind"] for e in got] == ["diagnosis", "indicator", "indicator", "indicator", "complaint",
                                            "finding"]
        assert got[0]["code"] == "J06.9" and got[2]["data"]["loinc"] == "8867-4"
        assert got[1]["data"]["components"]["systolic"]["value"] == 128 and got[4]["data"]["complaints"].startswith("Dry cough")
        assert all(e["role"] == "doctor" and e["version"] == 1 for e in got)
        by_nurse = await client.post(url, json={"entries": vitals()[1:]}, headers=nurse)  # vitals: hers
        assert by_nurse.status_code == 201, by_nurse.text
        assert [e["role"] for e in by_nurse.json()["entries"]] == ["nurse", "nurse"]
        page = (await client.get(f"{API}/patients/{pid}/entries", params={"limit": 50}, headers=nurse)).json()
        assert len(page["items"]) == 8
    ids = [e["id"] for e in got + by_nurse.json()["entries"]]
    events, audited = await _sent_and_audited(settings)
    assert [str(e.entry_id) for e in events] == ids  # one event per entry, in order
    assert {e.patient for e in events} == {VALID["pinfl"]}
    assert [(a.object, a.action, a.patient, a.outcome) for a in audited] == [
        (e["id"], f"medcard.{e['kind']}/record", VALID["pinfl"], "ok") for e in got + by_nurse.json()["entries"]]


async def test_one_refused_entry_refuses_the_whole_examination(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        doctor, nurse = await login(client, "doctor"), await login(client, "nurse")
        pid = await new_patient(client, doctor, pinfl=OTHER_PINFL, birth_date="1985-05-15")
        url = f"{API}/patients/{pid}/examinations"
        dx = kind("diagnosis", diagnosis())

        async def post(entries: Any, auth: dict[str, str] = doctor, to: str = url) -> Any:
            r = await client.post(to, json={"entries": entries}, headers=auth)
            assert r.headers["content-type"].startswith("application/problem+json"), r.text
            return r

        implausible = await post([*vitals(), dx, kind("indicator", pulse(19))])
        assert implausible.status_code == 422, implausible.text
        assert implausible.json()["detail"].startswith("entries[4] (indicator)")
        [error] = implausible.json()["errors"]
        assert (error["field"], error["pointer"]) == ("entries.4.value", "#/entries/4/value")
        future = await post([dx, kind("finding", finding(performed_at=ago(hours=-1)))])
        assert future.status_code == 422 and future.json()["errors"][0]["field"] == "entries.1.performed_at"
        shape = await post([dx, kind("indicator", pulse("fast"))])
        assert shape.status_code == 422 and shape.json()["errors"][0]["field"] == "entries.1.value"
        for bad in ([], [pulse()], [kind("xray", pulse())], [kind("indicator", pulse())] * 51):
            assert (await post(bad)).status_code == 422, bad  # empty, no kind, unknown kind, too many
        two_primaries = await post([kind("diagnosis", diagnosis(encounter_id=VISIT)),
                                    kind("diagnosis", diagnosis("I10", encounter_id=VISIT))])
        assert two_primaries.status_code == 409 and two_primaries.json()["errors"][0]["field"] == "entries.1"
        mixed = await post([*vitals(), dx, kind("complaint", complaint())], auth=nurse)
        assert mixed.status_code == 403, mixed.text
        assert [e["field"] for e in mixed.json()["errors"]] == ["entries.3.kind", "entries.4.kind"]
        assert "complaint, diagnosis" in mixed.json()["detail"]
        pharmacist = await login(client, "pharmacist")
        assert (await post([kind("indicator", pulse())], auth=pharmacist)).status_code == 403
        nobody = f"{API}/patients/01900000-0000-7000-8000-0000000000ff/examinations"
        assert (await post([dx], to=nobody)).status_code == 404
        page = (await client.get(f"{API}/patients/{pid}/entries", headers=doctor)).json()
        assert page["items"] == []  # nothing of any refused examination was written
    events, audited = await _sent_and_audited(settings)
    assert events == []
    assert sorted((a.action, a.patient, a.outcome) for a in audited) == [  # the nurse's two kinds, then
        ("medcard.complaint/record", pid, "denied:403"), ("medcard.diagnosis/record", pid, "denied:403"),
        ("medcard.examination/record", None, "denied:403")]  # the pharmacist, refused by the route
