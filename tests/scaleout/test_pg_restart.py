"""PostgreSQL restarts under three app processes mid-load (issue #21, "Tests that must exist").

On a PostgreSQL server of the test's own (``tests.host.pgserver``): ``kill -9`` of the postmaster
while entries are being written across the three apps, then a start on the same data. Meanwhile
writes answer 503 (not acknowledged, not counted); the relays and the module consumers back off and
heal by themselves. Afterwards every acknowledged entry is on the card, and every event reached
every consumer once, in commit order per patient.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host.pgserver import PgServer, own_server
from tests.natsserver import NatsServer
from tests.scaleout.conftest import fresh_database
from tests.scaleout.deployment import Deployment, deploy, settled
from tests.scaleout.world import Writes

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    pg = own_server()
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, probe_site: Path, server: PgServer,
            nats: NatsServer) -> Iterator[Deployment]:
    for database in fresh_database(server.dsn):
        deployment = deploy(tmp_path_factory.mktemp("scaleout-pg"), probe_site, database, nats.url)
        try:
            yield deployment
        finally:
            deployment.cluster.close()


async def test_a_postgresql_restart_mid_load_loses_and_repeats_nothing(cluster: Deployment,
                                                                       server: PgServer) -> None:
    writes = Writes(cluster.urls, cluster.auth, cluster.patients, total=400, concurrency=8)
    began = time.monotonic()
    writes.start()
    await writes.until_acked(100)
    server.kill()
    down = time.monotonic()
    await asyncio.sleep(1.5)  # writes answer 503 meanwhile
    await asyncio.to_thread(server.start)
    took = {"outage": time.monotonic() - down}
    await writes.finish()
    took["write"] = time.monotonic() - began
    await settled(cluster, "PostgreSQL kill -9 and restart", writes, took)
    assert len(writes.acked) == 400
    assert writes.statuses["503"] > 0  # the outage was felt, and answered 503
    assert set(writes.statuses) <= {"201", "503", "503 outcome unknown"}, writes.statuses
