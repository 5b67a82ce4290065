"""Three ``shifo serve`` processes, one PostgreSQL, one NATS (issue #21, "Tests that must exist").

The processes share the work: each relays the outbox partitions it could lock and consumes the
partitions whose leases it holds. Whatever happens to a process or to the broker mid-load, every
acknowledged write is on the card, every event reaches every module's consumer exactly once in
effect, and each patient's events are handled in commit order (``checks``). One deployment serves
the whole module; each test asserts over the whole database, so a later test also re-checks what
the earlier ones wrote.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.natsserver import NatsServer
from tests.patient.sse import messages, take
from tests.scaleout.checks import snapshot
from tests.scaleout.deployment import ACK_WAIT, Database, Deployment, deploy, settled
from tests.scaleout.world import CARD, PATIENT_LOGIN, Writes, entry, sign_in

pytestmark = pytest.mark.postgres
STREAM = "/api/v1/patient/stream"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, probe_site: Path, database: Database,
            nats: NatsServer) -> Iterator[Deployment]:
    deployment = deploy(tmp_path_factory.mktemp("scaleout"), probe_site, database, nats.url)
    try:
        yield deployment
    finally:
        deployment.cluster.close()


async def test_2000_entries_across_three_apps_reach_every_consumer_once_in_order(cluster: Deployment) -> None:
    writes = Writes(cluster.urls, cluster.auth, cluster.patients, total=2000, concurrency=12)
    began = time.monotonic()
    await writes.run()
    took = {"write": time.monotonic() - began}
    # every answer a 201 (a connection the server closed as it went idle is tried again: not an answer)
    assert {s for s in writes.statuses if s.isdigit()} == {"201"}, writes.statuses
    assert all(app.alive for app in cluster.apps)
    counts = await settled(cluster, "2,000 entries", writes, took)
    assert counts["entries"] == 2000 and counts["diagnoses"] == 500
    assert counts["processes"] == 3  # every app consumed some partitions


async def test_a_stream_on_one_app_gets_an_entry_committed_on_another_and_resumes(cluster: Deployment) -> None:
    a, b, c = cluster.apps
    me = await sign_in(b.url, PATIENT_LOGIN)
    mine = cluster.patients[0]  # registered with pinfl(0), the account's PINFL

    async def pulse(app_url: str, n: int) -> str:
        async with httpx.AsyncClient(timeout=10) as client:
            kind, body = entry(n * 4)  # a vital sign
            r = await client.post(f"{app_url}{CARD}/{mine}/{kind}", json=body, headers=cluster.auth)
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=15)) as client:
        async with client.stream("GET", b.url + STREAM, headers=me) as response:
            assert response.status_code == 200
            events = messages(response)
            await anext(events)  # the opening message (retry, position)
            began = time.monotonic()
            first = await pulse(a.url, 1)
            (got,) = await take(events, 1, timeout=5)
            latency = time.monotonic() - began
        assert json.loads(got["data"])["entry_id"] == first
        last = got["id"]

        missed = [await pulse(url, n) for n, url in enumerate((a.url, c.url, a.url), start=2)]
        async with client.stream("GET", b.url + STREAM, headers={**me, "Last-Event-ID": last}) as response:
            assert response.status_code == 200
            events = messages(response)
            await anext(events)
            resumed = await take(events, 3, timeout=5)
            live = await pulse(c.url, 9)
            (after,) = await take(events, 1, timeout=5)
    assert [json.loads(m["data"])["entry_id"] for m in resumed] == missed
    assert json.loads(after["data"])["entry_id"] == live
    ids = [int(m["id"]) for m in (got, *resumed, after)]
    assert ids == sorted(set(ids))  # positions rise, nothing twice
    print(f"\nstream across apps: first entry after {latency * 1000:.0f} ms; resumed {len(resumed)}")


async def test_kill_9_of_a_consumer_mid_batch_loses_and_repeats_nothing(cluster: Deployment) -> None:
    # a worker of its own, each event slowed down, so that the kill lands inside a batch
    worker = cluster.cluster.consumer(SHIFO_PROBE_DELAY_MS="5")
    await asyncio.to_thread(worker.wait_for_log, "consumers running")
    await asyncio.sleep(2 * ACK_WAIT)  # the apps hand it its share of the partitions
    writes = Writes(cluster.urls, cluster.auth, cluster.patients, total=500, concurrency=8)
    began = time.monotonic()
    writes.start()
    async with asyncio.timeout(30):  # until the worker handled some events
        while not any(r["pid"] == worker.pid for r in (await snapshot(cluster.db.dsn)).probe):
            assert worker.alive, worker.tail()
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)
    worker.kill()
    killed_at, killed = len(writes.acked), time.monotonic()
    await writes.finish()
    took = {"write": time.monotonic() - began}
    await settled(cluster, "kill -9 of a consumer", writes, took)
    assert len(writes.acked) == 500 and killed_at < 500, killed_at  # killed mid-load
    # the others took over the dead worker's partitions: its patients' later events were handled
    snap = await snapshot(cluster.db.dsn)
    its = {r["patient"] for r in snap.probe if r["pid"] == worker.pid}
    last = max(r["id"] for r in snap.probe if r["pid"] == worker.pid)
    assert any(r["patient"] in its for r in snap.probe if r["id"] > last), "nobody took over"
    print(f"  the worker handled {sum(r['pid'] == worker.pid for r in snap.probe)} events; settled "
          f"{time.monotonic() - killed:.1f} s after the kill")


async def test_a_nats_server_restart_mid_load_loses_and_repeats_nothing(cluster: Deployment, nats: NatsServer) -> None:
    writes = Writes(cluster.urls, cluster.auth, cluster.patients, total=400, concurrency=8)
    began = time.monotonic()
    writes.start()
    await writes.until_acked(100)
    nats.kill()  # kill -9: the stream survives on disk (sync_interval always)
    await asyncio.sleep(1.0)  # writes go on committing to the outbox meanwhile
    nats.start()
    await writes.finish()
    took = {"write": time.monotonic() - began}
    await settled(cluster, "nats-server kill -9 and restart", writes, took)
    assert len(writes.acked) == 400  # the broker is not on the write path
