"""The database goes away under a running app and comes back: the same app instance answers 503
with ``Retry-After`` meanwhile (within the fail-fast time), keeps ``/metrics`` and ``/health``
up, serves again within seconds of the server's return, and its relay delivers what was written
after, without a traceback per pass. On a PostgreSQL server of the test's own, so the test can
terminate its backends, ``kill -9`` its postmaster and freeze it (``SIGSTOP``: a partition)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select

from adapters.storage import held
from adapters.storage.engine import make_engine
from adapters.storage.outbox import _RELAY_LOCK_KEY
from adapters.storage.store import SqlStorage
from adapters.storage.tables import inbox
from core.errors import Unavailable
from core.events import Event
from host.operator import metrics
from host.pluginapi import EventHandler
from host.relay import Relay
from host.settings import Settings
from host.web.app import create_app
from tests.host.pgserver import PgServer, own_server
from tests.host.test_outbox_relay import PING, Pinged, count, migrated, publish
from tests.medcard.card import pulse
from tests.polyclinic.world import MEDCARD, POLY, patient, seed, until
from tests.support import login, racing

pytestmark = pytest.mark.postgres
FAIL_FAST = 2.0  # SHIFO_POOL_TIMEOUT_SECONDS of these tests
STATEMENT = 1.0  # SHIFO_DB_COMMAND_TIMEOUT_SECONDS of the tests that freeze the server
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


async def _visiting(client: Any) -> tuple[dict[str, str], str, str, Callable[[], Awaitable[Any]]]:
    """Signed in as the doctor: the headers, a patient's card, an open visit of theirs, and a
    write to the card (which has just answered 201)."""
    auth = await login(client, "doctor")
    pid = await patient(client, auth)
    card, visit = f"{MEDCARD}/patients/{pid}", await _open_visit(client, auth, pid)

    async def write() -> Any:
        return await client.post(f"{card}/indicators", json=pulse(), headers=auth)
    assert (await write()).status_code == 201
    return auth, card, visit, write


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
        auth, card, visit, write = await _visiting(client)
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


async def test_a_frozen_server_answers_503_within_the_timeouts_then_the_app_heals(
        server: PgServer, world: Any) -> None:
    """A server that stops answering with its connections open (a partition, a frozen host):
    statements give up after the statement timeout, the connections to it are dropped, and
    requests answer 503 within the statement timeout and the fail-fast time, never hang."""
    settings, _ = world
    settings = settings.with_(pool_timeout_seconds=STATEMENT, db_command_timeout_seconds=STATEMENT)
    async with racing(settings) as client:
        auth, card, visit, write = await _visiting(client)
        stopped = server.freeze()
        try:
            took = []
            for attempt in (write, lambda: client.get(f"{card}/entries", headers=auth), write,
                            lambda: client.post("/api/v1/auth/login", json={"login": "doctor", "password": "x"})):
                began = time.monotonic()
                async with asyncio.timeout(10):  # never a hang
                    r = await attempt()
                took.append(time.monotonic() - began)
                assert r.status_code == 503 and int(r.headers["retry-after"]) > 0, r.text
            began = time.monotonic()
            async with asyncio.timeout(10):
                assert (await client.get("/ready")).status_code == 503
                took.append(time.monotonic() - began)
                assert "shifo_db_up 0.0" in (await client.get("/metrics")).text
        finally:
            server.thaw(stopped)
        print(f"\nanswers while frozen: {', '.join(f'{t:.2f}' for t in took)} s")
        assert max(took) < 2 * STATEMENT + 0.8  # a statement's timeout, then ROLLBACK's at most
        healed, seen = await _serves_again(write, time.monotonic())
        print(f"serving again {healed * 1000:.0f} ms after the server thawed, statuses {seen}")
        assert seen <= {201, 503} and healed < 5.0
        entry = (await write()).json()["id"]
        assert await until(lambda: _visit_card_holds(client, auth, visit, entry), timeout=15)  # the relay too


async def test_a_commit_that_gets_no_answer_is_outcome_unknown(server: PgServer, world: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection fails after COMMIT was sent (here its backend freezes just before): the
    change may be stored, so the answer is 503 "Outcome unknown" without ``Retry-After`` (a
    client must read before it resends a create), and the connection is not used again."""
    settings, _ = world
    settings = settings.with_(run_relay=False, db_command_timeout_seconds=STATEMENT)
    armed, frozen = [False], []
    original = held.Unit.__aexit__

    async def freeze_before_commit(unit: Any, kind: Any, error: Any, trace: Any) -> None:
        if armed[0] and kind is None and not unit.readonly and unit.tx.published:  # the entry's unit
            armed[0] = False
            frozen.append(unit.held.driver.get_server_pid())
            os.kill(frozen[-1], signal.SIGSTOP)
        await original(unit, kind, error, trace)
    monkeypatch.setattr(held.Unit, "__aexit__", freeze_before_commit)
    async with racing(settings) as client:
        auth = await login(client, "doctor")
        card = f"{MEDCARD}/patients/{await patient(client, auth)}"
        armed[0] = True
        try:
            async with asyncio.timeout(STATEMENT + 3):
                r = await client.post(f"{card}/indicators", json=pulse(), headers=auth)
        finally:
            server.thaw(frozen)
        assert frozen and r.status_code == 503, r.text
        assert r.json()["title"] == "Outcome unknown" and "retry-after" not in r.headers
        assert "read the record" in r.json()["detail"].lower()
        assert (await client.post(f"{card}/indicators", json=pulse(), headers=auth)).status_code == 201
        ready = (await client.get("/ready")).json()
        assert ready["checks"]["database"]["connections"]["in_use"] == 0


async def test_the_relay_gives_up_on_a_claim_held_by_a_stalled_process(pg_url: str,
                                                                       caplog: pytest.LogCaptureFixture
                                                                       ) -> None:
    """Another process's relay stalled (or was cut off) holding the claim's lock: this relay waits
    for it at most ``lock_wait``, says so in one line, and delivers once the lock is free."""
    async with migrated(pg_url):
        pass
    storage = SqlStorage(make_engine(pg_url), lock_wait=0.3)
    stalled = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        relay = Relay(storage, [])
        await publish(storage, Pinged(n=1))
        await stalled.execute(f"BEGIN; SELECT pg_advisory_xact_lock({_RELAY_LOCK_KEY})")
        began = time.monotonic()
        with pytest.raises(Unavailable, match="held the outbox claim"):
            async with asyncio.timeout(5):
                await relay.drain()
        assert time.monotonic() - began < 0.3 + 1.0
        caplog.set_level(logging.INFO, logger="shifo")
        await relay.start()
        await asyncio.sleep(0.8)  # passes keep failing meanwhile
        await stalled.close()  # its session ends: the server frees the lock
        async with asyncio.timeout(15):
            while (await storage.outbox.lag())[0]:
                relay.wake()
                await asyncio.sleep(0.05)
        await relay.stop()
        lines = [r for r in caplog.records if r.name == "shifo.relay" and r.levelno >= logging.WARNING]
        said = [r.getMessage() for r in lines]
        assert len(said) == 2 and all(r.exc_info is None for r in lines), said
        assert said[0].startswith("relay paused: another process's relay") and said[1].startswith("relay resumed")
    finally:
        await stalled.close()
        await storage.close()


async def test_metrics_say_the_database_is_down_only_when_it_does_not_answer(
        pg_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Every connection busy, or a bug in a metric's query, is not ``shifo_db_up 0`` (that is for
    a database that does not answer): the database's series are left out and one warning says why."""
    settings = Settings(database_url=pg_url, modules=(), run_relay=False, pool_size=1,
                        pool_timeout_seconds=0.3)
    async with migrated(pg_url):
        pass
    monkeypatch.setattr(metrics, "_warned", [-1e9], raising=False)
    app = create_app(settings)
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                 base_url="http://shifo.test") as client:
        storage = app.state.runtime.storage
        assert "shifo_db_up 1.0" in (await client.get("/metrics")).text
        async with storage.transaction(), storage.transaction():  # both connections it may hold
            busy = await client.get("/metrics")
        assert busy.status_code == 200 and "shifo_http_requests" in busy.text
        assert "shifo_db_up" not in busy.text and "shifo_outbox_pending" not in busy.text

        async def broken(*args: Any) -> int:
            raise RuntimeError("a bug in a metric's query")
        monkeypatch.setattr(metrics.sla, "overdue_count", broken)
        for _ in range(2):
            assert "shifo_db_up" not in (await client.get("/metrics")).text
    said = [r for r in caplog.records if r.name == "shifo.web" and "metrics without" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING  # once a minute: the busy one
