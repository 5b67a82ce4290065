"""What an examination costs the database: the statements one ``POST .../examinations`` sends.

Counted where they leave the process: SQLAlchemy's ``before_cursor_execute`` (an executemany is one
statement) and the storage adapter's prepared-statement runner, which sends past SQLAlchemy on
PostgreSQL. A diagnosis and three vital signs (the benchmark's examination) read the patient once,
insert the entries and their outbox rows with one statement each and append the four audit entries
under one chain lock; every entry still has its own event and audit entry, and the chain verifies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from adapters.storage.plans import Runner
from adapters.storage.tables import outbox
from core.events import EntryRecorded, decode_event
from host.audit import audit_log, verify
from tests.fhir.test_transaction import post as fhir_post
from tests.fhir.test_transaction import pressure, transaction
from tests.fhir.test_transaction import pulse as fhir_pulse
from tests.medcard.card import API, VALID, ago, diagnosis, new_patient, pulse, seed, settings_for
from tests.support import login, opened, serving

#: the examination's own unit, PostgreSQL: patient, entries, outbox, chain lock, head, audit insert;
#: the request's sign-in and guard add theirs (the same for one entry or fifty)
BOUND = 8


@contextmanager
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The SQL sent while the block runs, one item per statement (an executemany counts once)."""
    sent: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    run, run_many = Runner.run, Runner.run_many

    async def running(self: Runner, plan: Any, params: Any) -> Any:
        sent.append(plan.sql)
        return await run(self, plan, params)

    async def running_many(self: Runner, plan: Any, rows: Any) -> Any:
        sent.append(plan.sql)
        return await run_many(self, plan, rows)

    event.listen(Engine, "before_cursor_execute", seen)
    monkeypatch.setattr(Runner, "run", running)
    monkeypatch.setattr(Runner, "run_many", running_many)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
        monkeypatch.setattr(Runner, "run", run)
        monkeypatch.setattr(Runner, "run_many", run_many)


def exam() -> list[dict[str, Any]]:
    at = ago(minutes=5)
    return [{"kind": "diagnosis", **diagnosis()}, {"kind": "indicator", **pulse(72)},
            {"kind": "indicator", "code": "blood_pressure", "systolic": 120, "diastolic": 80, "performed_at": at},
            {"kind": "indicator", "code": "temperature", "value": 36.6, "performed_at": at}]


async def test_an_examination_costs_a_bounded_number_of_statements(db_url: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        doctor = await login(client, "doctor")
        pid = await new_patient(client, doctor)
        url = f"{API}/patients/{pid}/examinations"
        assert (await client.post(url, json={"entries": exam()}, headers=doctor)).status_code == 201  # warm
        with counted(monkeypatch) as sent:
            r = await client.post(url, json={"entries": exam()}, headers=doctor)
        assert r.status_code == 201, r.text
        print(f"{len(sent)} statements for a diagnosis and three vital signs:", *sent, sep="\n  ")
        assert len(sent) <= BOUND, sent
        assert sum("shifo_audit" in s and s.lstrip().upper().startswith("INSERT") for s in sent) == 1
        assert sum("medcard_patients" in s for s in sent) == 1
        eight = [*exam(), *exam()[1:], {"kind": "indicator", **pulse(80)}]
        with counted(monkeypatch) as doubled:  # twice the entries, not one statement more
            r8 = await client.post(url, json={"entries": eight}, headers=doctor)
        assert r8.status_code == 201, r8.text
        assert len(doubled) == len(sent), doubled
        weight_first = [{"kind": "indicator", "code": "weight", "value": 80, "performed_at": ago(minutes=6)},
                        {"kind": "indicator", "code": "height", "value": 200, "performed_at": ago(minutes=5)},
                        *exam()[1:]]
        with counted(monkeypatch) as bigger:
            r2 = await client.post(url, json={"entries": weight_first}, headers=doctor)
        assert r2.status_code == 201, r2.text
        height = r2.json()["entries"][1]
        assert height["data"]["bmi"]["value"] == 20.0  # sees the weight sent just before it, unwritten till then
        assert height["data"]["bmi"]["from_entry"] == r2.json()["entries"][0]["id"]
        assert len(bigger) == len(sent) + 4, bigger  # two BMI reads; the weight written (and its event) first
        with counted(monkeypatch) as bundled:
            fhir = await fhir_post(client, transaction(fhir_pulse(pid), pressure(pid), fhir_pulse(pid, 90)), doctor)
        assert fhir.status_code == 200, fhir.text
        # per entry: the patient, its row and the resource read back; once: the patient's reference
        assert len(bundled) <= len(sent) - 2 + 3 * 3 + 1, bundled
        assert [s.split("(")[0].strip() for s in bundled if "shifo_" in s and " INTO " in s] == [
            "INSERT INTO shifo_outbox", "INSERT INTO shifo_audit"]  # the events, then the audit entries
        ids = [e["id"] for x in (r, r8, r2) for e in x.json()["entries"]]
    async with opened(settings) as rt:
        report = await verify(rt.storage)
        async with rt.storage.transaction(readonly=True) as tx:
            rows = (await tx.execute(select(outbox.c.event_type, outbox.c.payload).order_by(outbox.c.seq))).all()
            a = audit_log.c
            audited = (await tx.execute(select(a.chain, a.seq, a.action, a.patient, a.object).where(
                a.action.like("medcard.%/record")).order_by(a.chain, a.seq))).all()
    assert report.ok, report.findings
    assert report.entries >= len(audited) == 4 + 4 + 8 + 5 + 3
    events = [e for r in rows if isinstance(e := decode_event(r.event_type, r.payload), EntryRecorded)]
    assert len(events) == len(audited) and {e.patient for e in events} == {VALID["pinfl"]}
    assert [str(e.entry_id) for e in events[4:21]] == ids  # one event per entry, in order
    by_object = {x.object: x for x in audited}
    assert [by_object[i].action for i in ids[:4]] == ["medcard.diagnosis/record", *["medcard.indicator/record"] * 3]
    assert {by_object[i].patient for i in ids} == {VALID["pinfl"]} and len({x.chain for x in audited}) == 1
    seqs = [by_object[i].seq for i in ids]  # the examinations' entries: consecutive in the patient's chain
    assert seqs == list(range(seqs[0], seqs[0] + 17))
