"""The patient's live stream: a doctor's entry arrives at once, a reconnect with ``Last-Event-ID``
resumes without loss or repeat, other patients' events never show, staff tokens and malformed ids
are refused, and the stream ends when the server stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import func, select

from core.pinfl import check_digit
from host.audit import audit_log
from host.settings import Settings
from host.web import patient_stream
from host.web.app import create_app
from tests.medcard.card import API, VALID, pulse, settings_for
from tests.patient.sse import StreamingTransport, messages, take
from tests.support import add_facility, add_user, login, opened

STREAM = "/api/v1/patient/stream"
OTHER = "3021197" + "000777"
OTHER += str(check_digit(OTHER))  # a second man born 1997-11-02, as VALID


async def world(settings: Settings) -> None:
    """Facility F1 with the medical card, its doctor, and two patient-app accounts."""
    async with opened(settings) as rt:
        await add_facility(rt, "F1", ["medcard"])
        await add_user(rt, "doctor", grants=[("F1", "doctor")])
        await add_user(rt, "me", kind="patient", pinfl=VALID["pinfl"])
        await add_user(rt, "other", kind="patient", pinfl=OTHER)


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.lifespan(), httpx.AsyncClient(transport=StreamingTransport(app),
                                                 base_url="http://shifo.test") as client:
        yield client


class Clinic:
    """The doctor's side, over HTTP: two patients on the card and a way to record a pulse."""

    def __init__(self, client: httpx.AsyncClient, auth: dict[str, str], ids: dict[str, str]) -> None:
        self.client, self.auth, self.ids = client, auth, ids

    @classmethod
    async def open(cls, client: httpx.AsyncClient) -> Clinic:
        auth = await login(client, "doctor")  # type: ignore[arg-type]
        ids = {}
        for pinfl in (VALID["pinfl"], OTHER):
            r = await client.post(f"{API}/patients", json={**VALID, "pinfl": pinfl}, headers=auth)
            assert r.status_code == 201, r.text
            ids[pinfl] = r.json()["id"]
        return cls(client, auth, ids)

    async def pulse(self, pinfl: str, value: float) -> str:
        r = await self.client.post(f"{API}/patients/{self.ids[pinfl]}/indicators", json=pulse(value),
                                   headers=self.auth)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


@asynccontextmanager
async def stream(client: httpx.AsyncClient, token: dict[str, str], **kwargs: Any
                 ) -> AsyncIterator[AsyncIterator[dict[str, str]]]:
    async with client.stream("GET", STREAM, headers={**token, **kwargs.pop("headers", {})},
                             **kwargs) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        it = messages(response)
        opening = await anext(it)  # where the stream starts, and how soon to reconnect
        assert opening["retry"] == "3000" and opening["id"].isdigit() and "data" not in opening
        yield it


async def drain(events: AsyncIterator[dict[str, str]]) -> None:
    async for _ in events:
        pass


def data(message: dict[str, str]) -> dict[str, Any]:
    return dict(msgspec.json.decode(message["data"]))


async def test_entries_arrive_live_and_a_reconnect_resumes_without_loss(db_url: str) -> None:
    settings = settings_for(db_url)
    await world(settings)
    async with app_client(settings) as client:
        clinic = await Clinic.open(client)
        me = await login(client, "me")  # type: ignore[arg-type]
        before = await clinic.pulse(VALID["pinfl"], 70)  # committed before connecting: not replayed
        async with stream(client, me) as events:
            await clinic.pulse(OTHER, 99)  # another patient's, committed first: must never show
            first = await clinic.pulse(VALID["pinfl"], 72)
            (got,) = await take(events, 1, timeout=3)
        assert got["event"] == "medcard.entry_recorded"
        body = data(got)
        assert body["entry_id"] == first != before
        assert body["kind"] == "entry" and body["entry_kind"] == "indicator"
        assert body["summary"]["value"] == 72 and "author" not in body
        last_id = int(got["id"])

        # offline: two more entries of mine (and one of the other patient's between them)
        second = await clinic.pulse(VALID["pinfl"], 74)
        await clinic.pulse(OTHER, 98)
        third = await clinic.pulse(VALID["pinfl"], 76)
        async with stream(client, me, headers={"Last-Event-ID": str(last_id)}) as events:
            resumed = await take(events, 2, timeout=3)
            fourth = await clinic.pulse(VALID["pinfl"], 78)  # and live again after the backlog
            (live,) = await take(events, 1, timeout=3)
        assert [data(m)["entry_id"] for m in resumed] == [second, third]
        ids = [int(m["id"]) for m in [*resumed, live]]
        assert last_id < ids[0] < ids[1] < ids[2] and data(live)["entry_id"] == fourth

        # a client that cannot set headers resumes by query; the other patient sees only theirs
        async with stream(client, me, params={"last_event_id": str(last_id)}) as events:
            again = await take(events, 3, timeout=3)
        assert [data(m)["entry_id"] for m in again] == [second, third, fourth]
        other = await login(client, "other")  # type: ignore[arg-type]
        async with stream(client, other, headers={"Last-Event-ID": "0"}) as events:
            theirs = await take(events, 2, timeout=3)
        assert [data(m)["summary"]["value"] for m in theirs] == [99, 98]

        # a commit of another process (its own runtime: no commit notification here) arrives by the poll
        async with stream(client, me) as events, app_client(settings) as elsewhere:
            there = Clinic(elsewhere, await login(elsewhere, "doctor"), clinic.ids)  # type: ignore[arg-type]
            fifth = await there.pulse(VALID["pinfl"], 80)
            (far,) = await take(events, 1, timeout=4)
        assert data(far)["entry_id"] == fifth
    async with opened(settings) as rt, rt.storage.transaction(readonly=True) as tx:
        opened_streams = (await tx.execute(select(func.count()).select_from(audit_log).where(
            audit_log.c.action == "patient.stream/read", audit_log.c.outcome == "ok",
            audit_log.c.patient == VALID["pinfl"]))).scalar()
    assert opened_streams == 4  # one audit entry per connection


async def test_refusals_and_the_stream_ends_when_the_server_stops(db_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(db_url)
    await world(settings)
    app = create_app(settings)
    client = httpx.AsyncClient(transport=StreamingTransport(app), base_url="http://shifo.test")
    async with app.lifespan():
        doctor = await login(client, "doctor")  # type: ignore[arg-type]
        me = await login(client, "me")  # type: ignore[arg-type]
        assert (await client.get(STREAM)).status_code == 401
        staff = await client.get(STREAM, headers=doctor)
        assert staff.status_code == 401 and staff.json()["status"] == 401
        for bad in ("abc", "-1", "1e3", "12 ", "99999999999999999999", "\u0661\u0662"):
            for how in ({"headers": {**me, "Last-Event-ID": bad.encode()}},
                        {"headers": me, "params": {"last_event_id": bad}}):
                r = await client.get(STREAM, **how)  # type: ignore[arg-type]
                assert r.status_code == 400, (bad, how, r.text)
                assert r.headers["content-type"].startswith("application/problem+json")

        with monkeypatch.context() as patch:  # keep-alive comments; a stream ends after its lifetime
            patch.setattr(patient_stream, "KEEPALIVE_SECONDS", 0.1)
            patch.setattr(patient_stream, "LIFETIME_SECONDS", 0.6)
            async with stream(client, me) as events:
                (ping,) = await take(events, 1, timeout=2, kinds=("comment",))
                assert ping == {"comment": "keep-alive"}
                await asyncio.wait_for(drain(events), 3)

        response = await client.send(client.build_request("GET", STREAM, headers=me), stream=True)
        assert response.status_code == 200
        reader = asyncio.create_task(response.aread())
        await asyncio.sleep(0.2)
        assert not reader.done()
    await asyncio.wait_for(reader, 3)  # on_shutdown returned, and the open stream ended by itself
    await response.aclose()
    await client.aclose()
    async with opened(settings) as rt, rt.storage.transaction(readonly=True) as tx:
        audited = (await tx.execute(select(func.count()).select_from(audit_log).where(
            audit_log.c.action == "patient.stream/read", audit_log.c.outcome == "ok"))).scalar()
    assert audited == 2  # only the streams that opened; the guard audits the refusals apart
