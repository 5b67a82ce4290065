"""Delivery order: for every event consumer, delivering its events duplicated, reordered and retried
yields the same projection as in-order delivery.

The consumers are the ones the modules register (hook ``shifo_event_handlers``), driven through
``handle`` and ``handle_batch`` as the relay drives them, inside a real storage transaction on each
database. A delivery is one (consumer, event) pair: the relay retries and parks per consumer, so
one consumer may see an event long after another did. The in-order run delivers one patient's
history (``tests.host.delivery_world``) in commit order; each shuffled run (several seeds) first
holds back some first versions as failed deliveries, delivers the rest shuffled with duplicates,
then the held-back ones as ``shifo events retry`` would, after every newer version.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import msgspec
import pytest
from sqlalchemy import Table, select

from adapters.storage.tables import outbox
from core import events as ev
from host.delivery import offered
from host.pluginapi import EventHandler
from host.runtime import Runtime
from host.settings import Settings
from plugins.erecipe.tables import card_diagnoses
from plugins.hospital import tables as hospital
from plugins.medcard.tables import alert_recipients, alerts, module_records
from plugins.polyclinic import tables as polyclinic
from ports.storage import Storage
from tests.host.delivery_world import World
from tests.support import ALL_MODULES, opened

SEEDS = range(5)
Delivery = tuple[EventHandler, ev.Event]

#: each projection, the consumers that write it, and its tables (columns left out: ids and clock
#: times a projection draws itself, which no delivery order can make equal)
PROJECTIONS: dict[str, tuple[set[str], list[tuple[Table, set[str]]]]] = {
    "inpatient card": ({"hospital.stay_entries", "hospital.stay_entry_errors", "hospital.prescriptions",
                        "hospital.prescription_cancellations"},
                       [(hospital.stay_entries, set()), (hospital.entry_marks, set())]),
    "pending admissions": ({"hospital.pending_admissions"}, [(hospital.pending, set())]),
    "outpatient card and orders": ({"polyclinic.visit_entries", "polyclinic.visit_entry_errors",
                                    "polyclinic.prescriptions", "polyclinic.prescription_cancellations",
                                    "polyclinic.referral_admissions"},
                                   [(polyclinic.visit_entries, set()), (polyclinic.entry_marks, set()),
                                    (polyclinic.referrals, {"closed_at"}), (outbox, set())]),
    "medical card's module records": ({"medcard.module_records"}, [(module_records, {"id"})]),
    "critical-result alerts": ({"medcard.alerts"}, [(alerts, {"id"}), (alert_recipients, {"alert_id"}),
                                                    (outbox, set())]),
    "erecipe's card diagnoses": ({"erecipe.card_diagnoses"}, [(card_diagnoses, set())]),
}


class _Rollback(Exception):
    """Ends a run's transaction without keeping anything, so every run starts from the same rows."""


async def _project(storage: Storage, world: World, tables: list[tuple[Table, set[str]]],
                   steps: Sequence[Sequence[Delivery]]) -> list[tuple[str, list[bytes]]]:
    """Apply ``steps`` (one delivery, or several for a consumer's ``handle_batch``) on the world's
    rows, in one transaction rolled back after the projection is read."""
    found: list[tuple[str, list[bytes]]] = []
    try:
        async with storage.transaction() as tx:
            await world.setup(tx)
            for step in steps:
                handler = step[0][0]
                if len(step) > 1 and handler.handle_batch is not None:
                    await handler.handle_batch([event for _, event in step], tx)
                else:
                    for handler, event in step:
                        await handler.handle(event, tx)
            for table, left_out in tables:
                rows = (await tx.execute(select(table))).mappings().all()
                kept = [{k: v for k, v in row.items() if k not in left_out} for row in rows]
                if table is outbox:  # what the consumers published (orders closed), not its bytes
                    kept = [{"event_type": row["event_type"]} for row in kept]
                found.append((table.name, sorted(msgspec.json.encode(row, order="sorted") for row in kept)))
            raise _Rollback
    except _Rollback:
        return found


def _in_order(events: list[ev.Event], handlers: list[EventHandler]) -> list[Delivery]:
    return [(h, e) for e in events for h in handlers if offered(h, e)]


def _first_versions(deliveries: list[Delivery]) -> set[int]:
    """The deliveries a failure parks: the first version of each entry, and each first issue."""
    return {i for i, (_, e) in enumerate(deliveries) if isinstance(e, ev.EntryRecorded | ev.PrescriptionIssued)}


def _disordered(deliveries: list[Delivery], seed: int) -> list[Delivery]:
    """Duplicated and shuffled, some first versions failed and held back, then retried last."""
    rnd = random.Random(seed)
    held = {i for i in _first_versions(deliveries) if rnd.random() < 0.5}
    rest = [d for i, d in enumerate(deliveries) if i not in held]
    rest += rnd.sample(rest, k=len(rest) // 3)  # delivered twice
    rnd.shuffle(rest)
    return rest + [deliveries[i] for i in sorted(held)]


def _batched(deliveries: list[Delivery], seed: int) -> list[list[Delivery]]:
    """A consumer's deliveries in runs of up to four, as a relay batch hands them to ``handle_batch``."""
    rnd, steps = random.Random(seed), list[list[Delivery]]()
    for delivery in deliveries:
        if steps and steps[-1][-1][0] is delivery[0] and len(steps[-1]) < 4 and rnd.random() < 0.7:
            steps[-1].append(delivery)
        else:
            steps.append([delivery])
    return steps


@pytest.mark.parametrize("name", PROJECTIONS)
async def test_every_projection_is_the_same_whatever_the_delivery_order(db_url: str, name: str) -> None:
    consumers, tables = PROJECTIONS[name]
    async with opened(Settings(database_url=db_url, run_relay=False, modules=ALL_MODULES)) as rt:
        handlers = [h for h in rt.handlers if h.consumer in consumers]
        assert {h.consumer for h in handlers} == consumers
        world = World()
        deliveries = _in_order(world.history(), handlers)
        assert {h.consumer for h, _ in deliveries} == consumers  # the history feeds every one of them
        expected = await _project(rt.storage, world, tables, [[d] for d in deliveries])
        assert any(rows for _, rows in expected)  # the history projects something to compare
        by_consumer = sorted(deliveries, key=lambda d: handlers.index(d[0]))  # as after a failed batch
        assert await _project(rt.storage, world, tables, _batched(by_consumer, 0)) == expected
        for seed in SEEDS:
            shuffled = _disordered(deliveries, seed)
            assert await _project(rt.storage, world, tables, [[d] for d in shuffled]) == expected, seed
            grouped = sorted(shuffled, key=lambda d: handlers.index(d[0]))  # each consumer's own order kept
            assert await _project(rt.storage, world, tables, _batched(grouped, seed)) == expected, seed


def test_every_registered_consumer_is_covered() -> None:
    """A consumer a module adds must join a projection above, and so this test, before it ships."""
    registered = {h.consumer for h in Runtime.plan(Settings(modules=ALL_MODULES)).handlers}
    assert registered == set().union(*(consumers for consumers, _ in PROJECTIONS.values()))


async def test_a_result_and_its_correction_close_one_order_of_two_it_matches(db_url: str) -> None:
    """Two open orders for one test: the result closes the older; its correction closes no other,
    whether it comes after the result or before it (the result's delivery retried last)."""
    async with opened(Settings(database_url=db_url, run_relay=False, modules=ALL_MODULES)) as rt:
        [handler] = [h for h in rt.handlers if h.consumer == "polyclinic.visit_entries"]
        world = World()
        lab = [e for e in world.card_events() if getattr(e, "kind", None) == "lab"]
        orders = [(polyclinic.referrals, {"closed_at"})]
        for deliveries in (lab, lab[::-1]):
            [(_, rows)] = await _project(rt.storage, world, orders, [[(handler, e)] for e in deliveries])
            closed = sorted((r["status"], r["result_entry_id"]) for r in map(msgspec.json.decode, rows)
                            if r["kind"] == "lab")
            assert closed == [("closed", str(lab[0].entry_id)), ("open", None)]  # type: ignore[attr-defined]
