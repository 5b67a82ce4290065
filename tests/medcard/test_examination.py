"""Complaints and examination findings on the card: bounded, non-blank text, the time rules of
every kind, versions and "entered in error", an event per entry, and who may record them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from adapters.storage.tables import outbox
from core.events import EntryCorrected, EntryEnteredInError, EntryRecorded, decode_event
from tests.medcard.card import API, ago, complaint, finding, new_patient, seed, settings_for
from tests.support import login, opened, serving

ROUTES = {"complaints": complaint, "findings": finding}


async def test_bad_complaints_and_findings_answer_422_and_write_nothing(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        auth = await login(client, "doctor")
        pid = await new_patient(client, auth)
        card = f"{API}/patients/{pid}"
        refused: list[tuple[str, dict[str, Any]]] = [
            ("complaints", complaint(complaints="")), ("complaints", complaint(complaints="   \n\t")),
            ("complaints", complaint(complaints="x" * 10_001)), ("complaints", complaint(history="")),
            ("complaints", complaint(performed_at=ago(minutes=-10))),  # ten minutes ahead
            ("complaints", complaint(performed_at="2026-01-01T10:00:00")),  # no timezone
            ("complaints", complaint(performed_at="1990-01-01T10:00:00+05:00")),  # before birth (1997)
            ("complaints", {"performed_at": ago(minutes=1)}),  # no complaints at all
            ("complaints", complaint(kind="finding")),  # a body of another kind
            ("findings", finding(findings="")), ("findings", finding(findings=" ")),
            ("findings", finding(findings="y" * 10_001)), ("findings", finding(system="s" * 201)),
            ("findings", finding(performed_at=ago(hours=-1))), ("findings", finding(extra="field")),
        ]
        for path, body in refused:
            r = await client.post(f"{card}/{path}", json=body, headers=auth)
            assert r.status_code in (400, 422), (path, body, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        blank = await client.post(f"{card}/complaints", json=complaint(complaints="  "), headers=auth)
        assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "complaints"
        future = await client.post(f"{card}/findings", json=finding(performed_at=ago(hours=-1)), headers=auth)
        assert future.status_code == 422 and "future" in future.json()["detail"]
        longest = await client.post(f"{card}/findings", json=finding(findings="z" * 10_000), headers=auth)
        assert longest.status_code == 201  # the bound itself is accepted
        page = (await client.get(f"{card}/entries", headers=auth)).json()
        assert [e["kind"] for e in page["items"]] == ["finding"]


async def test_versions_errors_timeline_and_events(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        auth = await login(client, "resident")
        pid = await new_patient(client, auth)
        card = f"{API}/patients/{pid}"
        said = await client.post(f"{card}/complaints", json=complaint(), headers=auth)
        seen = await client.post(f"{card}/findings", json=finding(), headers=auth)
        assert said.status_code == 201 and seen.status_code == 201, (said.text, seen.text)
        assert said.json()["kind"] == "complaint" and said.json()["role"] == "resident"
        assert said.json()["data"]["complaints"].startswith("Dry cough")
        assert seen.json()["data"] == {"findings": finding()["findings"], "system": "respiratory"}
        sid, fid = said.json()["id"], seen.json()["id"]
        fix = {"version": 1, "reason": "the patient added a symptom",
               "entry": complaint(complaints="Dry cough for 5 days, fever, sore throat.")}
        fixed = await client.post(f"{card}/complaints/{sid}/versions", json=fix, headers=auth)
        assert fixed.status_code == 201 and fixed.json()["version"] == 2, fixed.text
        stale = await client.post(f"{card}/complaints/{sid}/versions", json=fix, headers=auth)
        assert stale.status_code == 409
        wrong_kind = await client.post(f"{card}/findings/{sid}/versions", headers=auth,
                                       json={**fix, "entry": finding()})
        assert wrong_kind.status_code == 404  # a complaint is not corrected as a finding
        gone = await client.post(f"{card}/findings/{fid}/entered-in-error", headers=auth,
                                 json={"version": 1, "reason": "another patient's examination"})
        assert gone.status_code == 201 and gone.json()["status"] == "entered_in_error"
        only = (await client.get(f"{card}/entries", params={"kind": "complaint"}, headers=auth)).json()
        assert [(e["id"], e["version"]) for e in only["items"]] == [(sid, 2)]
        assert (await client.get(f"{card}/entries", params={"kind": "finding"}, headers=auth)).json()["items"] == []
        history = (await client.get(f"{card}/entries/{sid}/history", headers=auth)).json()
        assert [h["status"] for h in history] == ["superseded", "current"]
    async with opened(settings) as rt, rt.storage.transaction(readonly=True) as tx:
        rows = (await tx.execute(select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.seq))).all()
    sent = [decode_event(r.event_type, r.payload) for r in rows]
    entry_events = [(type(e), e.kind) for e in sent
                    if isinstance(e, EntryRecorded | EntryCorrected | EntryEnteredInError)]
    assert entry_events == [(EntryRecorded, "complaint"), (EntryRecorded, "finding"),
                            (EntryCorrected, "complaint"), (EntryEnteredInError, "finding")]
    recorded = next(e for e in sent if isinstance(e, EntryRecorded) and e.kind == "complaint")
    assert recorded.summary["complaints"] == complaint()["complaints"] and recorded.facility == "F1"


async def test_doctors_and_residents_record_them_nurses_and_pharmacists_do_not(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        pid = await new_patient(client, await login(client, "doctor"))
        for role, expected in (("doctor", 201), ("resident", 201), ("nurse", 403), ("pharmacist", 403)):
            auth = await login(client, role)
            for path, body in ROUTES.items():
                r = await client.post(f"{API}/patients/{pid}/{path}", json=body(), headers=auth)
                assert r.status_code == expected, (role, path, r.text)
        nurse = await login(client, "nurse")
        listed = (await client.get(f"{API}/patients/{pid}/entries", headers=nurse)).json()["items"]
        assert sorted(e["kind"] for e in listed) == ["complaint", "complaint", "finding", "finding"]
