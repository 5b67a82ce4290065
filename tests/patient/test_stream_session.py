"""The patient stream ends with its session: a logout or the token's expiry ends an open stream
within a bounded time, and nothing recorded after the session ended is delivered."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx

from core.errors import Unavailable
from host import patient_feed
from host.web import session_watch
from host.web.app import create_app
from tests.medcard.card import VALID, settings_for
from tests.patient.sse import StreamingTransport, take
from tests.patient.test_stream import Clinic, app_client, data, stream, world
from tests.support import login


async def rest(events: AsyncIterator[dict[str, str]], timeout: float) -> tuple[list[dict[str, str]], float]:
    """Every message until the stream ends (fails if it is still open after ``timeout``), and when."""
    got: list[dict[str, str]] = []

    async def collect() -> None:
        async for message in events:
            got.append(message)

    await asyncio.wait_for(collect(), timeout)
    return got, time.monotonic()


async def test_a_logout_ends_the_open_stream_and_nothing_later_arrives(db_url: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(session_watch, "CHECK_SECONDS", 0.5)  # idle re-check (default 5 s)
    settings = settings_for(db_url)
    await world(settings)
    async with app_client(settings) as client:
        clinic = await Clinic.open(client)
        me = await login(client, "me")  # type: ignore[arg-type]
        async with stream(client, me) as events:
            before = await clinic.pulse(VALID["pinfl"], 70)
            first = await anext(m async for m in events if "data" in m)
            assert data(first)["entry_id"] == before
            out = await client.post("/api/v1/auth/logout", headers=me)
            assert out.status_code == 204
            after = await clinic.pulse(VALID["pinfl"], 71)  # wakes the stream at once: read, not sent
            left, _ = await rest(events, timeout=3)
        assert [m for m in left if "data" in m] == [], "an entry recorded after the logout was delivered"
        assert after != before
        again = await client.get("/api/v1/patient/stream", headers=me)
        assert again.status_code == 401  # and the client's reconnect is refused


async def test_an_idle_stream_ends_within_the_check_interval_after_logout(db_url: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(session_watch, "CHECK_SECONDS", 0.5)
    settings = settings_for(db_url)
    await world(settings)
    async with app_client(settings) as client:
        me = await login(client, "me")  # type: ignore[arg-type]
        async with stream(client, me) as events:
            await asyncio.sleep(0.2)
            assert (await client.post("/api/v1/auth/logout", headers=me)).status_code == 204
            out_at = time.monotonic()
            left, ended = await rest(events, timeout=3)
        assert ended - out_at < 2.5  # within the check interval (0.5 s), a poll and some slack
        assert [m for m in left if "data" in m] == []


async def test_the_stream_ends_when_its_token_expires(db_url: str) -> None:
    """A short token lifetime (2 s) instead of a clock: the stream stops at the expiry time itself,
    without waiting for the periodic re-check (5 s by default, left as it is here)."""
    settings = settings_for(db_url).with_(token_ttl_seconds=2)
    await world(settings)
    async with app_client(settings) as client:
        me = await login(client, "me")  # type: ignore[arg-type]
        signed_in = time.monotonic()
        async with stream(client, me) as events:
            left, ended = await rest(events, timeout=6)
        assert 1.0 < ended - signed_in < 3.5, ended - signed_in
        assert [m for m in left if "data" in m] == []
        assert (await client.get("/api/v1/patient/stream", headers=me)).status_code == 401


async def test_an_entry_recorded_after_the_token_expired_is_not_delivered(
        db_url: str, monkeypatch: Any) -> None:
    """The stream is open and idle when its token's expiry passes; the stream's clock jumps past
    the expiry as the next entry commits (so the stream cannot have ended before it): the commit
    wakes the stream, which ends without sending it."""
    settings = settings_for(db_url)
    await world(settings)
    expired = [False]
    real = session_watch.utcnow
    monkeypatch.setattr(session_watch, "utcnow",
                        lambda: real() + timedelta(seconds=settings.token_ttl_seconds + 60) if expired[0]
                        else real())
    app = create_app(settings)
    async with app.lifespan(), httpx.AsyncClient(transport=StreamingTransport(app),
                                                 base_url="http://shifo.test") as client:
        clinic = await Clinic.open(client)
        me = await login(client, "me")  # type: ignore[arg-type]
        async with stream(client, me) as events:
            before = await clinic.pulse(VALID["pinfl"], 70)
            (first,) = await take(events, 1, timeout=3)
            assert data(first)["entry_id"] == before  # the stream is open and delivering
            app.state.runtime.storage.on_commit(lambda: expired.__setitem__(0, True))
            after = await clinic.pulse(VALID["pinfl"], 73)  # committed as the token expires
            assert expired[0]
            left, _ = await rest(events, timeout=3)
        assert [m for m in left if "data" in m] == [], "an entry recorded after the expiry was delivered"
        assert after != before


async def test_an_outage_ends_the_stream_quietly_without_a_traceback(
        db_url: str, monkeypatch: Any, caplog: Any) -> None:
    settings = settings_for(db_url)
    await world(settings)

    async def away(*args: Any, **kwargs: Any) -> Any:
        raise Unavailable("The database cannot be reached just now; try again shortly.")

    async with app_client(settings) as client:
        clinic = await Clinic.open(client)
        me = await login(client, "me")  # type: ignore[arg-type]
        async with stream(client, me) as events:
            monkeypatch.setattr(patient_feed, "read", away)
            await clinic.pulse(VALID["pinfl"], 70)  # wakes the stream: its read meets the outage
            with caplog.at_level(logging.DEBUG, logger="shifo.patient.stream"):
                left, _ = await rest(events, timeout=3)
    assert [m for m in left if "data" in m] == []
    lines = [r for r in caplog.records if r.name == "shifo.patient.stream"]  # (the storage logs the outage)
    assert len(lines) == 1 and lines[0].levelno <= logging.WARNING and lines[0].exc_info is None, lines
    assert "cannot be reached" in lines[0].getMessage()
