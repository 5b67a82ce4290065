"""What an operator scrapes beyond requests and the outbox: this process's ``process_*`` series,
each consumer's delivery failures and latency, and installation requests due soon; and what a
request that no route takes (unknown path, wrong method) answers: a problem with its request id."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from core import clock
from core.clock import utcnow
from core.events import Event
from host.pluginapi import EventHandler
from host.relay import Relay
from host.settings import Settings
from host.web.app import create_app
from ports.storage import Transaction
from tests.access.world import bearer, facilities, settings, staff, token
from tests.support import opened, serving

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
STEADY, BROKEN = "metricsprobe.steady", "metricsprobe.broken"


class Noted(Event, frozen=True, kw_only=True, tag="test_metrics_more.noted"):
    pass


class Filed(Event, frozen=True, kw_only=True, tag="test_metrics_more.filed"):
    pass


async def scrape(client: AsyncTestClient[Any]) -> Samples:
    r = await client.get("/metrics")
    assert r.status_code == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(r.text) for s in f.samples}


def of(consumer: str, **more: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"consumer": consumer, "module": "metricsprobe", **more}.items()))


async def deliver(s: Settings) -> None:
    """Two fresh events both consumers take (the broken one fails on each) and one written 40 s
    ago only the steady one takes: the first batch falls back to consumer by consumer, the second
    is delivered in the claim's own transaction."""

    async def steady(event: Event, tx: Transaction) -> None:
        return None

    async def broken(event: Event, tx: Transaction) -> None:
        raise RuntimeError("the lab system is away")

    noted, filed = Noted.event_type(), Filed.event_type()
    async with opened(s) as rt:
        relay = Relay(rt.storage, [EventHandler(consumer=STEADY, event_types=(noted, filed), handle=steady),
                                   EventHandler(consumer=BROKEN, event_types=(noted,), handle=broken)])
        async with rt.storage.transaction() as tx:
            await tx.publish(Noted())
            await tx.publish(Noted())
        assert await relay.drain() == 2
        async with rt.storage.transaction() as tx:
            await tx.publish(Filed(occurred_at=utcnow() - timedelta(seconds=40)))
        assert await relay.drain() == 1


async def test_metrics_show_process_deliveries_and_installations_due_soon(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(db_url).with_(modules=("medcard",))
    async with opened(s) as rt:
        await facilities(rt, {"F1": (), "F2": (), "F3": ()})
        await staff(rt, "op", kind="operator", n=1)
        op = bearer(await token(rt, "op"))
    async with AsyncTestClient(create_app(s)) as client:
        before = await scrape(client)
        for facility, applied in (("F1", "2026-05-20"), ("F2", "2026-06-01"), ("F3", "2026-06-16")):
            r = await client.post("/api/v1/operator/installations", headers=op,
                                  json={"facility": facility, "modules": ["medcard"], "applied_on": applied})
            assert r.status_code == 201, r.text
        await deliver(s)
        # 17 June 2026: the first (due 15 June) is overdue, the second (due 22 June) 3 working days
        # off, so due soon; the third (due 7 July) is on track
        monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 6, 17, 9, tzinfo=UTC))
        after = await scrape(client)
        monkeypatch.setattr(clock, "utcnow", lambda: datetime(2026, 6, 16, 9, tzinfo=UTC))
        a_day_earlier = await scrape(client)

    def grew(name: str, labels: tuple[tuple[str, str], ...]) -> float:
        return after.get((name, labels), 0) - before.get((name, labels), 0)

    assert after[("shifo_installations_due_soon", ())] == 1 and after[("shifo_installations_overdue", ())] == 1
    assert a_day_earlier[("shifo_installations_due_soon", ())] == 0  # 4 working days off: on track
    assert a_day_earlier[("shifo_installations_overdue", ())] == 1
    assert grew("shifo_delivery_failures_total", of(BROKEN)) == 2  # one attempt per event, recorded
    assert grew("shifo_delivery_failures_total", of(STEADY)) == 0
    assert grew("shifo_delivery_latency_seconds_count", of(STEADY)) == 3
    assert grew("shifo_delivery_latency_seconds_count", of(BROKEN)) == 0  # nothing handled
    assert grew("shifo_delivery_latency_seconds_bucket", of(STEADY, le="30.0")) == 2  # the fresh two
    assert grew("shifo_delivery_latency_seconds_bucket", of(STEADY, le="60.0")) == 3  # and the old one
    assert 40 <= grew("shifo_delivery_latency_seconds_sum", of(STEADY)) < 60
    assert after[("process_resident_memory_bytes", ())] > 10_000_000
    assert after[("process_open_fds", ())] >= 3 and after[("process_cpu_seconds_total", ())] > 0
    assert time.time() - 86400 < after[("process_start_time_seconds", ())] <= time.time()


async def test_unknown_paths_and_wrong_methods_answer_problems_with_the_request_id(tmp_path: Path) -> None:
    s = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'ids.db'}", modules=("medcard",),
                 run_relay=False)
    async with opened(s):
        pass
    async with serving(s) as client:  # no route takes these: routing refuses them before any handler
        unknown = await client.get("/api/v1/nothing-here", headers={"X-Request-ID": "req-404"})
        wrong = await client.delete("/health")
        fhir = await client.get("/fhir/Nothing/here")
        known = await client.get("/health", headers={"X-Request-ID": "req-200"})
    assert (unknown.status_code, unknown.headers["content-type"]) == (404, "application/problem+json")
    assert unknown.headers["x-request-id"] == "req-404" and unknown.json()["request_id"] == "req-404"
    assert unknown.json()["instance"] == "/api/v1/nothing-here"
    assert (wrong.status_code, wrong.headers["content-type"]) == (405, "application/problem+json")
    rid = wrong.headers["x-request-id"]
    assert len(rid) == 32 and wrong.json()["request_id"] == rid and "GET" in wrong.headers["allow"]
    assert fhir.status_code == 404 and fhir.headers["x-request-id"] in fhir.json()["issue"][0]["diagnostics"]
    assert known.headers.get_list("x-request-id") == ["req-200"]  # routed: still exactly one
