"""One deployment of the scale-out tests: a seeded PostgreSQL database, three ``shifo serve``
processes on one NATS server under a subject prefix of their own, and 50 patients on the card.

Short timings keep the faults quick: an unacknowledged batch is due again after
``ACK_WAIT`` seconds and a dead process's partition leases expire after twice that; a request
waits at most two seconds for a connection before it answers 503.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from host.modules import Modules
from tests.scaleout.checks import check, settle
from tests.scaleout.cluster import FAST, App, Cluster
from tests.scaleout.world import MODULES, Writes, probe_plugin, register, seed, sign_in

ACK_WAIT = 1.5
PATIENTS = 50


class Database:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn  # asyncpg's
        self.url = dsn.replace("postgresql://", "postgresql+asyncpg://")  # the app's


class Deployment:
    def __init__(self, cluster: Cluster, apps: list[App], db: Database, modules: Modules,
                 auth: dict[str, str], patients: list[str]) -> None:
        self.cluster, self.apps, self.db, self.modules = cluster, apps, db, modules
        self.auth, self.patients = auth, patients

    @property
    def urls(self) -> list[str]:
        return [a.url for a in self.apps if a.alive]


def deploy(root: Path, site: Path, db: Database, nats_url: str, *, apps: int = 3,
           **env: str) -> Deployment:
    """Seed ``db``, start ``apps`` app processes and register :data:`PATIENTS` patients."""
    probe = probe_plugin(site)
    asyncio.run(seed(db.url, root, probe))
    cluster = Cluster({
        "PYTHONPATH": str(site), "SHIFO_DATABASE_URL": db.url, "SHIFO_MODULES": ",".join(MODULES),
        "SHIFO_EXTRA": FAST, "SHIFO_SIGNATURE_DEV_KEYS_DIR": str(root / "keys"),
        "SHIFO_MESSAGING_ADAPTER": "nats", "SHIFO_NATS_URL": nats_url,
        "SHIFO_NATS_PREFIX": f"scale{uuid.uuid4().hex[:8]}", "SHIFO_NATS_ACK_WAIT_SECONDS": str(ACK_WAIT),
        "SHIFO_NATS_CONNECT_TIMEOUT_SECONDS": "1", "SHIFO_RELAY_POLL_SECONDS": "0.5",
        "SHIFO_RELAY_BACKOFF_SECONDS": "0.2", "SHIFO_POOL_SIZE": "4", "SHIFO_POOL_TIMEOUT_SECONDS": "2",
        "SHIFO_DB_COMMAND_TIMEOUT_SECONDS": "5", **env}, root / "logs")
    try:
        started = cluster.apps(apps)
        auth = asyncio.run(sign_in(started[0].url, "doctor"))
        patients = asyncio.run(register([a.url for a in started], auth, PATIENTS))
    except BaseException:
        print(cluster.tails())
        cluster.close()
        raise
    modules = Modules.load(MODULES, {"probe": probe})
    return Deployment(cluster, started, db, modules, auth, patients)


async def settled(d: Deployment, name: str, writes: Writes, took: dict[str, float]) -> dict[str, int]:
    """Wait until every event reached every consumer, assert :func:`checks.check` (with the
    processes' logs on a failure) and print what the test did and how long each step took
    (``pytest -s``)."""
    snap, took["settle"] = await settle(d.db.dsn, d.modules)
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in took.items())
    try:
        counts = check(snap, d.modules, writes.acked)
    except AssertionError:
        print(f"\n{name}: {steps}; answers {dict(writes.statuses)}\n{d.cluster.tails()}")
        raise
    print(f"\n{name}: {steps}; {counts}; answers {dict(writes.statuses)}")
    return counts
