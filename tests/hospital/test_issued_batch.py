"""Prescriptions issued reach the encounter cards in batches (``Encounters.on_issued_all``): one
query for the encounters of the whole batch, with the same owners as one by one, under the time
rule (the encounter open at the issue; the hospital's also a stay discharged earlier that day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

import pytest
from sqlalchemy import Table, select

from core import events as ev
from core.ids import new_id
from host.settings import Settings
from plugins.hospital import tables as hospital
from plugins.polyclinic import tables as polyclinic
from ports.storage import Storage, Transaction
from tests.medcard.test_module_records_batch import Counted
from tests.support import ALL_MODULES, opened

DAY = datetime(2026, 11, 20, tzinfo=UTC)
NOON = DAY + timedelta(hours=12)
P_OPEN, P_TODAY, P_YESTERDAY, P_TWO, P_NONE = (f"3021197591{n:04d}" for n in range(5))


class _Rollback(Exception):
    """Ends a run without keeping its rows: every run starts from the same encounters."""


def _issued(pinfl: str, facility: str, at: datetime) -> ev.PrescriptionIssued:
    return ev.PrescriptionIssued(patient=pinfl, facility=facility, prescription_id=new_id(),
                                 number=f"261120-{new_id().int % 10**10:010d}", category="general",
                                 diagnosis="J06.9", prescriber=new_id(), valid_until=at + timedelta(days=30),
                                 occurred_at=at, lines=[{"inn": "Amoxicillin", "quantity": 1}])


async def _encounters(tx: Transaction) -> dict[str, UUID]:
    """Stays and visits at F1 (P_TWO also one at F2): ids by (patient, which)."""
    ids: dict[str, UUID] = {}
    periods = {  # patient: [(opened, closed)] at F1
        P_OPEN: [(DAY - timedelta(days=3), None)],
        P_TODAY: [(DAY - timedelta(days=3), DAY + timedelta(hours=8))],  # closed before noon, same day
        P_YESTERDAY: [(DAY - timedelta(days=3), DAY - timedelta(hours=2))],
        P_TWO: [(DAY - timedelta(days=20), DAY - timedelta(days=10)), (DAY - timedelta(days=1), None)],
    }
    for pinfl, spans in periods.items():
        for n, (begun, ended) in enumerate(spans):
            for table, kind in ((hospital.stays, "stay"), (polyclinic.visits, "visit")):
                ids[f"{kind} {pinfl} {n}"] = key = new_id()
                await tx.execute(table.insert().values(**_row(table, key, pinfl, "F1", begun, ended)))
    return ids


def _row(table: Table, key: UUID, pinfl: str, facility: str, begun: datetime,
         ended: datetime | None) -> dict[str, Any]:
    common = {"id": key, "facility": facility, "patient_id": new_id(), "pinfl": pinfl}
    if table is hospital.stays:
        return {**common, "status": "discharged" if ended else "admitted", "emergency": False,
                "admission_diagnosis": "J18.9", "ward_id": new_id(), "bed_id": new_id(),
                "admitted_at": begun, "admitted_by": new_id(), "discharged_at": ended}
    return {**common, "doctor": new_id(), "status": "closed" if ended else "open", "opened_at": begun,
            "closed_at": ended}


async def _owners(storage: Storage, events: list[ev.Event], batched: bool,
                  counted: list[Counted]) -> dict[str, dict[UUID, UUID]]:
    """Each card's owner by prescription after delivering ``events`` (then rolled back); the
    owners as ``_encounters`` named them ("stay <pinfl> <n>"), not their random ids."""
    try:
        async with storage.transaction() as tx:
            ids = await _encounters(tx)
            for kit in (hospital.ENCOUNTERS, polyclinic.ENCOUNTERS):
                if batched:
                    seen = Counted(tx)
                    await kit.on_issued_all(events, cast(Transaction, seen))
                    counted.append(seen)
                else:
                    for event in events:
                        await kit.on_issued(event, tx)
            names = {v: k for k, v in ids.items()}
            found = {kit.module: {r.entry_id: names[getattr(r, kit.owner)] for r in await tx.execute(
                select(kit.entries))} for kit in (hospital.ENCOUNTERS, polyclinic.ENCOUNTERS)}
            raise _Rollback
    except _Rollback:
        return found


@pytest.mark.parametrize("order", ["as issued", "reversed"])
async def test_a_batch_of_issues_joins_the_encounters_one_by_one_would(db_url: str, order: str) -> None:
    events: list[ev.Event] = [
        _issued(P_OPEN, "F1", NOON), _issued(P_TODAY, "F1", NOON), _issued(P_YESTERDAY, "F1", NOON),
        _issued(P_TWO, "F1", NOON), _issued(P_OPEN, "F2", NOON), _issued(P_NONE, "F1", NOON),
        _issued(P_TWO, "F1", DAY - timedelta(days=15)),  # during the older of its two periods
    ]
    if order == "reversed":
        events.reverse()
    rx = {(cast(ev.PrescriptionIssued, e).patient, e.facility, e.occurred_at):
          cast(ev.PrescriptionIssued, e).prescription_id for e in events}
    async with opened(Settings(database_url=db_url, run_relay=False, modules=ALL_MODULES)) as rt:
        counted: list[Counted] = []
        one = await _owners(rt.storage, events, batched=False, counted=counted)
        both = await _owners(rt.storage, events, batched=True, counted=counted)
    assert both == one
    # one select of encounters for the whole batch, then the mirror's two (what it holds, marks)
    # and its inserts: three selects for seven issues, where one by one ran one to three each
    assert [[k for k, _ in c.kinds()].count("select") for c in counted] == [3, 3]

    older = DAY - timedelta(days=15)
    expected = {(P_OPEN, "F1", NOON): "0", (P_TODAY, "F1", NOON): "0", (P_TWO, "F1", NOON): "1",
                (P_TWO, "F1", older): "0"}  # the period each joins ("<kind> <pinfl> <n>")
    assert both["hospital"] == {rx[k]: f"stay {k[0]} {n}" for k, n in expected.items()}
    del expected[(P_TODAY, "F1", NOON)]  # a visit closed that morning: only the hospital's rule
    assert both["polyclinic"] == {rx[k]: f"visit {k[0]} {n}" for k, n in expected.items()}
