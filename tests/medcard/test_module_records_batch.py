"""The module-records projection takes a batch at once (``handle_batch``): one select, one insert and
one update for the batch, each record's events merged in memory first. The card must end up
exactly as if the events had come one by one, whatever their order within the batch."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import select

from core import events as ev
from core.clock import utcnow
from core.ids import new_id
from plugins.medcard import module_records
from plugins.medcard.tables import module_records as table
from ports.storage import Storage, Transaction, is_prepared
from tests.medcard.card import settings_for
from tests.support import opened

PINFL = "30211975910033"
Step = Callable[[Transaction], Awaitable[None]]


class _Rollback(Exception):
    """Ends a run without keeping its rows: every run starts from an empty table."""


class Counted:
    """A transaction that notes each statement run through it."""

    def __init__(self, tx: Transaction) -> None:
        self.tx, self.calls = tx, list[tuple[Any, Any]]()
        self.dialect = tx.dialect

    async def execute(self, statement: Any, params: Any = None) -> Any:
        self.calls.append((statement, params))
        return await self.tx.execute(statement, params)

    def kinds(self) -> list[tuple[str, int]]:
        """Each statement's kind and how many rows its parameters carry."""
        return [("select" if s.is_select else "insert" if s.is_insert else "update",
                 len(p) if isinstance(p, list) else 1) for s, p in self.calls]


async def _rows(storage: Storage, *steps: Step) -> list[dict[str, Any]]:
    """The table after ``steps`` (each given the transaction), ids left out, by record."""
    try:
        async with storage.transaction() as tx:
            for step in steps:
                await step(tx)
            found = (await tx.execute(select(table))).mappings().all()
            raise _Rollback
    except _Rollback:
        rows = [{k: v for k, v in row.items() if k != "id"} for row in found]
        return sorted(rows, key=lambda row: str(row["record_id"]))


def one_by_one(events: Sequence[ev.Event]) -> Step:
    async def step(tx: Transaction) -> None:
        for event in events:
            await module_records.HANDLER.handle(event, tx)
    return step


def batch(events: Sequence[ev.Event], counted: list[Counted] | None = None) -> Step:
    async def step(tx: Transaction) -> None:
        assert module_records.HANDLER.handle_batch is not None
        seen = Counted(tx)
        await module_records.HANDLER.handle_batch(list(events), cast(Transaction, seen))
        if counted is not None:
            counted.append(seen)
    return step


def prescription(t0: datetime) -> list[ev.Event]:
    """Issued, dispensed in part, dispensed in full and cancelled at the same moment (a tie: the
    later stage, cancelled, wins), in commit order."""
    rx, number = new_id(), "261206-0000000001"
    common: dict[str, Any] = {"patient": PINFL, "prescription_id": rx, "number": number}
    issued = ev.PrescriptionIssued(**common, facility="F1", category="general", diagnosis="J06.9",
                                   prescriber=new_id(), valid_until=t0 + timedelta(days=30), occurred_at=t0,
                                   lines=[{"inn": "Amoxicillin", "quantity": 2}])
    part, rest = (ev.PrescriptionDispensed(**common, facility="P1", dispense_id=new_id(), by=new_id(),
                                           status=status, occurred_at=t0 + timedelta(hours=hours),
                                           items=[{"line": 1, "quantity": 1}])
                  for status, hours in (("partially_dispensed", 1), ("dispensed", 2)))
    cancelled = ev.PrescriptionCancelled(**common, facility="F1", reason="allergy reported", by=new_id(),
                                         occurred_at=t0 + timedelta(hours=2))
    return [issued, part, rest, cancelled]


def _orders(events: list[ev.Event]) -> list[list[ev.Event]]:
    shuffled = [random.Random(seed).sample(events, k=len(events)) for seed in range(4)]
    return [events, events[::-1], [events[-1], *events[:-1]], *shuffled, [*events, events[1], events[0]]]


async def test_a_batch_of_one_records_events_makes_the_row_they_make_one_by_one(db_url: str) -> None:
    t0 = utcnow().replace(microsecond=0) - timedelta(days=1)
    events = prescription(t0)
    issued, part, rest, cancelled = events
    async with opened(settings_for(db_url)) as rt:
        expected = await _rows(rt.storage, one_by_one(events))
        [row] = expected
        assert row["status"] == "cancelled" and row["occurred_at"] == t0
        assert row["updated_at"] == t0 + timedelta(hours=2)
        summary = row["summary"]
        assert summary["lines"] == [{"inn": "Amoxicillin", "quantity": 2}] and summary["facility"] == "F1"
        assert summary["cancel_reason"] == "allergy reported"
        assert [d["id"] for d in summary["dispenses"]] == [str(e.dispense_id) for e in (part, rest)]  # type: ignore[attr-defined]
        for order in _orders(events):
            counted: list[Counted] = []
            assert await _rows(rt.storage, batch(order, counted)) == expected, order
            assert counted[0].kinds() == [("select", 1), ("insert", 1)]  # one row, written once
        # the record already stored: the rest of its events are one update
        for order in _orders([part, rest, cancelled]):
            counted = []
            assert await _rows(rt.storage, one_by_one([issued]), batch(order, counted)) == expected, order
            assert counted[0].kinds() == [("select", 1), ("update", 1)]
        # the issue held back (a failed delivery retried later): the row begins at the earliest seen
        later = await _rows(rt.storage, one_by_one([part, rest, cancelled]))
        assert later[0]["occurred_at"] == part.occurred_at and later[0]["status"] == "cancelled"
        for order in _orders([part, rest, cancelled]):
            assert await _rows(rt.storage, batch(order)) == later, order


async def test_a_batch_of_new_and_stored_records_writes_each_once(db_url: str) -> None:
    t0 = utcnow().replace(microsecond=0) - timedelta(days=1)
    stored, fresh = prescription(t0), prescription(t0 + timedelta(minutes=5))
    visit, stay, t1 = new_id(), new_id(), t0 + timedelta(hours=3)
    opened_visit = ev.VisitOpened(patient=PINFL, facility="F1", visit_id=visit, patient_id=new_id(),
                                  doctor=new_id(), occurred_at=t0)
    closed = ev.VisitClosed(patient=PINFL, facility="F1", visit_id=visit, patient_id=opened_visit.patient_id,
                            final_diagnosis="J06.9", closed_by=new_id(), occurred_at=t1)
    admitted = ev.PatientAdmitted(patient=PINFL, facility="F1", stay_id=stay, patient_id=new_id(),
                                  ward_id=new_id(), bed_id=new_id(), diagnosis="I21.0", occurred_at=t1)
    before = [stored[0], opened_visit]
    later = [stored[1], fresh[0], closed, fresh[1], stored[3], admitted, fresh[3], stored[2], fresh[2]]
    async with opened(settings_for(db_url)) as rt:
        expected = await _rows(rt.storage, one_by_one(before + later))
        assert {(r["kind"], r["status"]) for r in expected} == {
            ("prescription", "cancelled"), ("outpatient_visit", "closed"), ("inpatient_stay", "admitted")}
        assert len(expected) == 4
        counted: list[Counted] = []
        assert await _rows(rt.storage, one_by_one(before), batch(later, counted)) == expected
        # the two stored records one update, the two new ones one insert: each row written once
        assert counted[0].kinds() == [("select", 1), ("insert", 2), ("update", 2)]
        counted = []
        assert await _rows(rt.storage, batch(before + later, counted)) == expected
        assert counted[0].kinds() == [("select", 1), ("insert", 4)]


@pytest.mark.parametrize("stored", [False, True])
async def test_a_single_event_runs_prepared_statements(db_url: str, stored: bool) -> None:
    """The usual batch at light load is one event: its select and its write are built once."""
    issued, part, *_ = prescription(utcnow() - timedelta(days=1))
    async with opened(settings_for(db_url)) as rt:
        counted: list[Counted] = []
        steps = [one_by_one([issued])] if stored else []
        [row] = await _rows(rt.storage, *steps, batch([part if stored else issued], counted))
        assert row["status"] == ("partially_dispensed" if stored else "issued")
        assert counted[0].kinds() == [("select", 1), ("update" if stored else "insert", 1)]
        assert all(is_prepared(statement) for statement, _ in counted[0].calls)
