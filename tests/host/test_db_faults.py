"""The database goes away under a running app and comes back: the same app instance answers 503
with ``Retry-After`` meanwhile (within the fail-fast time), keeps ``/metrics`` and ``/health``
up, serves again within seconds of the server's return, and its relay delivers what was written
after, without a traceback per pass. On a PostgreSQL server of the test's own, so the test can
terminate its backends and ``kill -9`` its postmaster."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select

from adapters.storage.engine import make_engine
from adapters.storage.store import SqlStorage
from adapters.storage.tables import inbox
from core.errors import Unavailable
from core.events import Event
from host.pluginapi import EventHandler
from host.relay import Relay
from host.settings import Settings
from tests.host.pgserver import PgServer, own_server
from tests.host.test_outbox_relay import PING, Pinged, count, migrated, publish
from tests.medcard.card import pulse
from tests.polyclinic.world import MEDCARD, POLY, patient, seed, until
from tests.support import login, racing

pytestmark = pytest.mark.postgres
FAIL_FAST = 2.0  # SHIFO_POOL_TIMEOUT_SECONDS of these tests
MODULES = ("medcard", "polyclinic")
INBOX_ROWS = select(func.count()).select_from(inbox)


@pytest.fixture(scope="module")
def server() -> Iterator[PgServer]:
    pg = own_server()
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture
async def world(server: PgServer) -> AsyncIterator[tuple[Settings, str]]:
    """A fresh database on the test's server, seeded; the settings and the database's name."""
    name = f"faults_{time.monotonic_ns()}"
    admin = await asyncpg.connect(server.dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = server.dsn.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
    settings = Settings(database_url=url, modules=MODULES, run_relay=True, relay_poll_seconds=0.2,
                        pool_size=2, pool_timeout_seconds=FAIL_FAST)
    await seed(settings, MODULES)
    yield settings, name


async def _terminate_backends(server: PgServer, database: str) -> int:
    admin = await asyncpg.connect(server.dsn)
    try:
        return int(await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()", database))
    finally:
        await admin.close()


async def _serves_again(write: Any, since: float, limit: float = 15.0) -> tuple[float, set[int]]:
    """Seconds from ``since`` until ``write()`` answers 201, and every status seen until then."""
    seen: set[int] = set()
    async with asyncio.timeout(limit):
        while True:
            status = (await write()).status_code
            seen.add(status)
            if status == 201:
                return time.monotonic() - since, seen
            await asyncio.sleep(0.05)


async def _visit_card_holds(client: Any, auth: dict[str, str], visit: str, entry: str) -> bool:
    found = (await client.get(f"{POLY}/visits/{visit}/card", headers=auth)).json()
    return entry in {e["entry_id"] for e in found.get("indicators", [])}


async def _open_visit(client: Any, auth: dict[str, str], pid: str) -> str:
    async def opened() -> Any:  # the polyclinic learns of the patient from the relay
        r = await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=auth)
        return r.json()["id"] if r.status_code == 201 else None
    return str(await until(opened, timeout=10))


async def test_terminated_idle_backends_are_replaced_at_once(server: PgServer, world: Any) -> None:
    settings, database = world
    async with racing(settings) as client:
        auth = await login(client, "doctor")
        card = f"{MEDCARD}/patients/{await patient(client, auth)}"
        for _ in range(3):  # several held connections, idle now
            await asyncio.gather(*(client.get(f"{card}/entries", headers=auth) for _ in range(4)))

        async def write() -> Any:
            return await client.post(f"{card}/indicators", json=pulse(), headers=auth)
        for _ in range(3):  # more dead connections than it may hold: none may keep its place
            assert await _terminate_backends(server, database) >= 2
            took, seen = await _serves_again(write, time.monotonic())
            print(f"\nrecovery after pg_terminate_backend of every backend: {took * 1000:.0f} ms, "
                  f"statuses {seen}")
            assert seen <= {201, 503} and took < 3.0
            answers = await asyncio.gather(*(write() for _ in range(6)),
                                           *(client.get(f"{card}/entries", headers=auth) for _ in range(6)))
            assert {r.status_code for r in answers} == {200, 201}
        ready = (await client.get("/ready")).json()
        held = ready["checks"]["database"]["connections"]
        assert ready["status"] == "ready" and held["size"] == 4 and held["waiting"] == 0
        assert held["in_use"] <= 1  # the relay's pass at most: nothing leaked


async def test_a_killed_server_gives_503_then_the_same_app_heals(server: PgServer, world: Any,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    settings, _ = world
    caplog.set_level(logging.DEBUG, logger="shifo")
    async with racing(settings) as client:
        auth = await login(client, "doctor")
        pid = await patient(client, auth)
        card, visit = f"{MEDCARD}/patients/{pid}", await _open_visit(client, auth, pid)

        async def write() -> Any:
            return await client.post(f"{card}/indicators", json=pulse(), headers=auth)
        assert (await write()).status_code == 201
        server.kill()
        down = time.monotonic()
        outage_log = len(caplog.records)
        for attempt in (write, lambda: client.get(f"{card}/entries", headers=auth),
                        lambda: client.post("/api/v1/auth/login", json={"login": "doctor", "password": "x"})):
            began = time.monotonic()
            r = await attempt()
            assert r.status_code == 503, r.text
            assert time.monotonic() - began < FAIL_FAST + 1.0
            assert int(r.headers["retry-after"]) > 0
            assert r.headers["content-type"].startswith("application/problem+json")
        began = time.monotonic()
        assert (await client.get("/ready")).status_code == 503
        assert time.monotonic() - began < FAIL_FAST + 2.0
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200 and "shifo_db_up 0.0" in metrics.text
        assert (await client.get("/health")).status_code == 200
        await asyncio.sleep(2.0)  # the relay's passes fail meanwhile: it backs off
        outage = caplog.records[outage_log:]

        up = await asyncio.to_thread(server.start)
        took, seen = await _serves_again(write, up)
        print(f"\nrecovery after kill -9 and restart: {took * 1000:.0f} ms after the server accepted "
              f"connections ({time.monotonic() - down:.1f} s outage in all), statuses {seen}")
        assert seen <= {201, 503} and took < 5.0
        entry = (await write()).json()["id"]
        assert await until(lambda: _visit_card_holds(client, auth, visit, entry), timeout=10)
        assert (await client.get("/ready")).status_code == 200
        assert "shifo_db_up 1.0" in (await client.get("/metrics")).text

    relay = [r for r in outage if r.name == "shifo.relay" and r.levelno >= logging.WARNING]
    assert len(relay) <= 1 and all(r.exc_info is None for r in relay), [r.getMessage() for r in relay]
    errors = [r for r in outage if r.levelno >= logging.ERROR]
    assert all(r.exc_info is None for r in errors), [r.getMessage() for r in errors]
    assert len([r for r in errors if r.name == "shifo.storage"]) == 1  # one line for the outage


async def test_the_relay_needs_no_second_connection_while_it_holds_its_claim(pg_url: str) -> None:
    """Inside the claim (which holds the relay's lock) a consumer's own transaction after a
    handler failed, a failure record and a due retry all run on the claim's connection: with a
    single connection in all the relay still delivers, records and retries, instead of waiting
    for a second connection while other processes' relays wait for its lock."""
    applied: list[int] = []

    async def picky(event: Event, tx: Any) -> None:
        if getattr(event, "n", 0) == 3:
            raise ValueError("three is refused")
        applied.append(getattr(event, "n", 0))

    async with migrated(pg_url):
        pass
    storage = SqlStorage(make_engine(pg_url), held=1)
    try:
        relay = Relay(storage, [EventHandler(consumer="t.picky", event_types=(PING,), handle=picky)],
                      max_attempts=2, backoff_seconds=0.0)
        await publish(storage, *(Pinged(n=n) for n in (1, 2, 3, 4)))
        async with asyncio.timeout(10):
            assert await relay.drain() == 4  # all in the claim, refused, then consumer by consumer
            assert applied[-3:] == [1, 2, 4] and await count(storage, INBOX_ROWS) == 3
            [failed] = await storage.outbox.failures(parked_only=False)
            assert (failed.attempts, failed.parked) == (1, False)
            await relay.drain()  # the due retry, inside the claim: fails again, parked
        [parked] = await storage.outbox.failures()
        assert parked.attempts == 2 and await count(storage, INBOX_ROWS) == 3
    finally:
        await storage.close()


async def test_a_unit_that_finds_every_connection_busy_fails_fast(pg_url: str) -> None:
    """Waiting for a connection gives up after the fail-fast time with Unavailable (503), and the
    slot it waited for serves the next unit once it is free."""
    storage = SqlStorage(make_engine(pg_url), held=1, timeout=0.5)
    try:
        async with storage.transaction():
            began = time.monotonic()
            with pytest.raises(Unavailable):
                async with storage.transaction(readonly=True):
                    pass
            assert 0.4 < time.monotonic() - began < 2.0
        assert storage.connections() == {"size": 1, "in_use": 0, "idle": 1, "held": 1, "waiting": 0}
        await storage.ping()
    finally:
        await storage.close()
