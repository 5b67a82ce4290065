"""The patient stream fed through the messaging port: a commit on one host reaches a stream open on
another at once (NATS, PostgreSQL) with no poll of the outbox; a reconnect with ``Last-Event-ID``
misses and repeats nothing; the same on the in-process adapter; and a ``None`` from the
subscription ("you may have missed events") makes the stream re-read what it missed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import httpx
import msgspec
import pytest
from litestar import Litestar

from host import outbox_horizon
from host.settings import Settings
from host.web import patient_stream
from host.web.app import create_app
from tests.medcard.card import VALID, settings_for
from tests.patient.sse import StreamingTransport, take
from tests.patient.test_stream import OTHER, Clinic, data, stream, world
from tests.support import login

ME = VALID["pinfl"]
SOON = 0.5  # seconds from a 201 to the event on an open stream


@pytest.fixture(autouse=True)
def no_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing looks at the outbox by time: what arrives, arrives through messaging."""
    monkeypatch.setattr(outbox_horizon, "POLL_SECONDS", 3600.0)
    monkeypatch.setattr(patient_stream, "OTHER_PROCESSES_SECONDS", 3600.0)


@asynccontextmanager
async def host(settings: Settings) -> AsyncIterator[tuple[Litestar, httpx.AsyncClient]]:
    """One app instance (a host process of its own: its own runtime, relay and messaging)."""
    app = create_app(settings)
    async with app.lifespan(), httpx.AsyncClient(transport=StreamingTransport(app),
                                                 base_url="http://shifo.test") as client:
        yield app, client


async def arrives(events: AsyncIterator[dict[str, str]], clinic: Clinic, value: float) -> dict[str, str]:
    """Record a pulse of mine and return its message, asserting it came within :data:`SOON`."""
    loop = asyncio.get_running_loop()
    entry = await clinic.pulse(ME, value)
    began = loop.time()
    (got,) = await take(events, 1, timeout=3)
    assert loop.time() - began < SOON
    assert data(got)["entry_id"] == entry and data(got)["summary"]["value"] == value
    return got


async def live_and_resume(reader: httpx.AsyncClient, clinic: Clinic) -> None:
    """Three entries arrive live; three more written while away arrive on resume, then live again."""
    me = await login(reader, "me")  # type: ignore[arg-type]
    async with stream(reader, me) as events:
        await clinic.pulse(OTHER, 99)  # another patient's: never shown here
        got = [await arrives(events, clinic, value) for value in (70, 71, 72)]
    last = int(got[-1]["id"])
    assert [int(m["id"]) for m in got] == sorted(int(m["id"]) for m in got)

    away = [await clinic.pulse(ME, 74), await clinic.pulse(OTHER, 98), await clinic.pulse(ME, 76),
            await clinic.pulse(ME, 77)]
    async with stream(reader, me, headers={"Last-Event-ID": str(last)}) as events:
        resumed = await take(events, 3, timeout=3)
        assert [data(m)["entry_id"] for m in resumed] == [away[0], away[2], away[3]]
        after = await arrives(events, clinic, 78)  # the next one, not a repeat of the backlog
    ids = [int(m["id"]) for m in [*resumed, after]]
    assert last < ids[0] < ids[1] < ids[2] < ids[3]


@pytest.mark.nats
@pytest.mark.postgres
async def test_a_commit_on_one_host_reaches_a_stream_on_another(pg_url: str, nats_server: Any) -> None:
    base = settings_for(pg_url, messaging_adapter="nats", nats_url=nats_server.url,
                        nats_prefix=f"live{uuid4().hex[:10]}", run_consumers=False)
    await world(base)
    writer = msgspec.structs.replace(base, run_relay=True)  # the stream's host runs no relay
    async with host(base) as (_, reader), host(writer) as (_, there):
        clinic = await Clinic.open(there)
        await live_and_resume(reader, clinic)


async def test_the_same_on_the_in_process_adapter(tmp_path: Any) -> None:
    settings = msgspec.structs.replace(settings_for(f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}"),
                                       run_relay=True)  # publishes to the hub after delivering
    await world(settings)
    async with host(settings) as (_, client):
        await live_and_resume(client, await Clinic.open(client))


async def test_a_missed_event_is_read_again_after_a_none(tmp_path: Any) -> None:
    settings = settings_for(f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}")
    await world(settings)
    async with host(settings) as (app, reader), host(settings) as (_, there):
        clinic = await Clinic.open(there)  # another process: its events never reach this one
        me = await login(reader, "me")  # type: ignore[arg-type]
        async with stream(reader, me) as events:
            next_one = asyncio.create_task(take(events, 1, timeout=3))
            entry = await clinic.pulse(ME, 81)
            await asyncio.sleep(0.3)
            assert not next_one.done()  # as if its message had been dropped on the way
            (subscription,) = app.state.runtime.messaging.subscribers
            subscription.queue.put_nowait(None)  # the adapter: "you may have missed events"
            began = asyncio.get_running_loop().time()
            (got,) = await next_one
            assert asyncio.get_running_loop().time() - began < SOON
        assert data(got)["entry_id"] == entry
