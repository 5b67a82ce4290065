"""What the scale-out tests assert, read from the database once the processes settled.

* every outbox row is delivered, no delivery is parked or waiting for a retry;
* each consumer's inbox holds exactly the events of its types that it accepts (``offered``), so
  every module applied every event once in effect;
* the probe handled every event exactly once, and per patient in outbox order (its autoincrement
  id rises with the seq);
* every acknowledged entry is on the card and its event in the outbox;
* the erecipe projection keeps one row per diagnosis entry.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from typing import Any

import asyncpg

from core.events import decode_event
from host.delivery import offered
from host.modules import Modules

PROBE = "probe.handled"


class Snapshot:
    def __init__(self, rows: dict[str, list[Any]]) -> None:
        self.outbox, self.inbox, self.probe = rows["outbox"], rows["inbox"], rows["probe"]
        self.failures, self.entries, self.diagnoses = rows["failures"], rows["entries"], rows["diagnoses"]
        self.events = {r["event_id"]: decode_event(r["event_type"], r["payload"]) for r in self.outbox}

    def pending(self) -> int:
        return sum(1 for r in self.outbox if r["delivered_at"] is None)

    def expected_inbox(self, modules: Modules) -> dict[str, set[Any]]:
        return {h.consumer: {i for i, e in self.events.items() if offered(h, e)}
                for h in modules.event_handlers()}

    def inbox_of(self) -> dict[str, set[Any]]:
        found: dict[str, set[Any]] = defaultdict(set)
        for r in self.inbox:
            found[r["consumer"]].add(r["event_id"])
        return found

    def settled(self, modules: Modules) -> bool:
        expected = {c: events for c, events in self.expected_inbox(modules).items() if events}
        return (not self.pending() and not self.failures and self.inbox_of() == expected
                and len(self.probe) >= len(self.outbox))


async def snapshot(dsn: str) -> Snapshot:
    conn = await asyncpg.connect(dsn)
    try:
        rows = {
            "outbox": await conn.fetch("SELECT seq, event_id, event_type, patient, partition, payload, delivered_at"
                                       " FROM shifo_outbox ORDER BY seq"),
            "inbox": await conn.fetch("SELECT consumer, event_id FROM shifo_inbox"),
            "probe": await conn.fetch("SELECT id, event_id, patient, seq, pid, tx FROM probe_handled ORDER BY id"),
            "failures": await conn.fetch("SELECT seq, consumer, attempts, parked, last_error"
                                         " FROM shifo_delivery_failures"),
            "entries": await conn.fetch("SELECT entry_id, kind FROM medcard_entries"),
            "diagnoses": await conn.fetch("SELECT entry_id FROM erecipe_card_diagnoses"),
        }
    finally:
        await conn.close()
    return Snapshot(rows)


async def settle(dsn: str, modules: Modules, timeout: float = 30.0) -> tuple[Snapshot, float]:
    """The database once every event reached every consumer (or at ``timeout``: the checks then
    say what is missing); and how long that took."""
    began = shown = time.monotonic()
    while True:
        snap = await snapshot(dsn)
        if snap.settled(modules) or time.monotonic() - began > timeout:
            return snap, time.monotonic() - began
        if time.monotonic() - shown > 5:  # progress in the output, for a slow settle
            shown = time.monotonic()
            print(f"  settling {shown - began:.0f} s: {snap.pending()} rows unrelayed, inbox "
                  f"{len(snap.inbox)}, probe {len(snap.probe)}/{len(snap.outbox)}, failures {len(snap.failures)}")
        await asyncio.sleep(0.25)


def _first_late(rows: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    at = next(i for i in range(1, len(rows)) if rows[i][0] < rows[i - 1][0])
    return rows[max(0, at - 2):at + 2]


def check(snap: Snapshot, modules: Modules, acked: dict[str, str] | None = None) -> dict[str, int]:
    """Assert every invariant of the module docstring; returns counts for the test's report."""
    assert snap.pending() == 0, f"{snap.pending()} outbox rows never delivered"
    assert not snap.failures, f"deliveries failed or parked: {[dict(r) for r in snap.failures[:5]]}"
    expected, found = snap.expected_inbox(modules), snap.inbox_of()
    for consumer, events in expected.items():
        missing, extra = events - found.get(consumer, set()), found.get(consumer, set()) - events
        assert not missing and not extra, (
            f"{consumer}: {len(missing)} events never applied, {len(extra)} applied that it does not take")
    assert set(found) <= set(expected), f"inbox rows of unknown consumers {set(found) - set(expected)}"

    times = Counter(r["event_id"] for r in snap.probe)
    twice = [e for e, n in times.items() if n > 1]
    if twice:
        rows = [(r["seq"], r["id"], r["pid"], r["tx"]) for r in snap.probe if r["event_id"] in set(twice[:3])]
        raise AssertionError(f"{len(twice)} events handled twice by the probe; (seq, probe id, pid, "
                             f"transaction) of the first three: {sorted(rows)}")
    assert set(times) == set(snap.events), f"the probe missed {len(set(snap.events) - set(times))} events"
    by_patient: dict[str | None, list[tuple[int, int, int]]] = defaultdict(list)
    for r in snap.probe:  # in handling order
        by_patient[r["patient"]].append((r["seq"], r["id"], r["pid"]))
    late = {p: _first_late(rows) for p, rows in by_patient.items() if p is not None
            and [seq for seq, _, _ in rows] != sorted(seq for seq, _, _ in rows)}
    if late:
        sent = {r["seq"]: (str(r["delivered_at"])[11:23], r["partition"]) for r in snap.outbox}
        shown = {p: [(*row, *sent[row[0]]) for row in rows] for p, rows in late.items()}
        raise AssertionError(f"{len(late)} patients' events handled out of commit order; (seq, probe id, "
                             f"pid, relayed at, partition) around the first inversion: {shown}")

    recorded = {str(getattr(e, "entry_id", "")) for e in snap.events.values()
                if e.event_type() == "medcard.entry_recorded"}
    on_card = {str(r["entry_id"]) for r in snap.entries}
    if acked is not None:
        lost = set(acked) - on_card
        assert not lost, f"{len(lost)} acknowledged entries are not on the card, e.g. {sorted(lost)[:3]}"
        unsent = set(acked) - recorded
        assert not unsent, f"{len(unsent)} acknowledged entries have no event in the outbox"
    diagnoses = {str(r["entry_id"]) for r in snap.entries if r["kind"] == "diagnosis"}
    assert {str(r["entry_id"]) for r in snap.diagnoses} == diagnoses, "erecipe's card diagnoses differ"
    return {"events": len(snap.outbox), "inbox": len(snap.inbox), "entries": len(on_card),
            "diagnoses": len(diagnoses), "processes": len({r["pid"] for r in snap.probe}),
            "consumers": len(expected)}
