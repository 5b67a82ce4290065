"""Security findings of issue #20: guesses under a semi-public PINFL lock that alias and only slow the
account (EDS is never blocked), a token presented from a second address is flagged once, the
operator's reads of people's data are audited with patients' PINFLs masked in lists, and an outage
is not audited as a refused change."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

import adapters.identity.local as local
from core.errors import Unavailable
from host.audit import audit_log
from tests.access.world import FakeSignature, app, bearer, pinfl, settings, staff, token
from tests.support import PASSWORD, opened

LOGIN = "/api/v1/auth/login"
# slowed after 2 failures (10 s, doubling, at most 60 s); a login alias locked after 4
LIMITS = {"slow_after": 2, "lock_after": 4, "delay_seconds": 10, "max_delay_seconds": 60,
          "client_slow_after": 100, "client_lock_after": 100}


class Clock:
    def __init__(self) -> None:
        self.now = local.utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def _sign_in(client: AsyncTestClient[Any], login: str, password: str) -> tuple[int, str]:
    r = await client.post(LOGIN, json={"login": login, "password": password})
    return r.status_code, r.headers.get("retry-after", "")


async def test_guessing_under_a_pinfl_locks_that_alias_and_only_slows_the_account(
        db_url: str, monkeypatch: Any) -> None:
    """PINFLs are semi-public: guesses under one must not lock the patient out. They lock the PINFL
    alias; the account is slowed (429, growing), which caps the guesses across both aliases; the
    patient still signs in under their login after the wait, and with EDS at once."""
    s = settings(db_url, **LIMITS)
    async with opened(s) as rt:
        await staff(rt, "pat", kind="patient", n=5)
    clock, fake = Clock(), FakeSignature()
    monkeypatch.setattr(local, "utcnow", clock)
    async with AsyncTestClient(app(s, signature=fake)) as client:
        assert [await _sign_in(client, pinfl(5), "wrong") for _ in range(2)] == [(401, "")] * 2
        assert await _sign_in(client, "pat", PASSWORD) == (429, "10")  # the account: slowed, not locked
        clock.advance(11)
        assert await _sign_in(client, pinfl(5), "wrong") == (401, "")
        clock.advance(21)
        assert await _sign_in(client, pinfl(5), "wrong") == (401, "")  # 4th under the alias: it locks
        assert (await _sign_in(client, pinfl(5), PASSWORD))[0] == 423
        assert await _sign_in(client, "pat", PASSWORD) == (429, "40")  # the account waits, growing

        c = (await client.post("/api/v1/auth/challenge", json={"login": pinfl(5)})).json()
        signed = {"challenge_id": c["challenge_id"], "signature": fake.sign(c["challenge"], pinfl(5))}
        eds = await client.post("/api/v1/auth/login/eds", json=signed)
        assert eds.status_code == 200, eds.text  # EDS: no password counter blocks it

        clock.advance(41)  # guesses across the aliases stay capped in rate: one a minute at most now
        assert await _sign_in(client, "pat", "wrong") == (401, "")
        assert await _sign_in(client, "pat", "wrong") == (429, "60")
        clock.advance(61)
        assert (await _sign_in(client, "pat", PASSWORD))[0] == 200  # the own login: not locked
        assert (await _sign_in(client, pinfl(5), PASSWORD))[0] == 423  # the guessed alias still is


async def test_a_database_outage_is_not_audited_as_a_refused_change(db_url: str, monkeypatch: Any) -> None:
    s = settings(db_url)
    async with opened(s) as rt:
        await staff(rt, "op", kind="operator", n=1)
        doc = await staff(rt, "doc", n=2)
        op = bearer(await token(rt, "op"))
    built = app(s)

    async def away(*args: Any, **kwargs: Any) -> Any:
        raise Unavailable("The database cannot be reached just now; try again shortly.", retry_after=3)

    async with AsyncTestClient(built) as client:
        monkeypatch.setattr(built.state.runtime.identity, "set_status", away)
        r = await client.post(f"/api/v1/admin/accounts/{doc}/suspend", headers=op)
        assert r.status_code == 503 and r.headers["retry-after"] == "3", r.text
        monkeypatch.undo()
        assert (await client.post(f"/api/v1/admin/accounts/{doc}/suspend", headers=op)).status_code == 200
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        c = audit_log.c
        rows = (await tx.execute(select(c.outcome).where(c.action == "admin.account/suspend"))).all()
    assert [r.outcome for r in rows] == ["ok"]  # no "refused:503"


async def test_a_token_from_a_second_address_is_flagged_once(db_url: str) -> None:
    s = settings(db_url)
    async with opened(s) as rt:
        await staff(rt, "op", kind="operator", n=1)
        await staff(rt, "doc", kind="operator", n=2)
        op = bearer(await token(rt, "op"))  # issued to the test client's own address: never flagged
        travelled = bearer(await token(rt, "doc", "10.0.0.7"))  # issued elsewhere, used from here
    async with AsyncTestClient(app(s)) as client:
        for _ in range(3):
            assert (await client.get("/api/v1/admin/accounts", headers=travelled)).status_code == 200
            assert (await client.get("/api/v1/admin/accounts", headers=op)).status_code == 200
        flags = (await client.get("/api/v1/admin/session-flags", headers=op)).json()
    assert [(f["login"], f["client"], f["other_client"]) for f in flags] == [("doc", "testclient", "10.0.0.7")]
    assert flags[0]["session"] == flags[0]["other_session"]  # one session, two addresses


async def test_operator_reads_are_audited_and_lists_mask_patient_pinfls(db_url: str) -> None:
    s = settings(db_url)
    async with opened(s) as rt:
        await staff(rt, "op", kind="operator", n=1)
        await staff(rt, "doc", n=2)
        patient = await staff(rt, "pat", kind="patient", n=3)
        op = bearer(await token(rt, "op"))
    async with AsyncTestClient(app(s)) as client:
        listed = {a["login"]: a for a in (await client.get("/api/v1/admin/accounts", headers=op)).json()}
        one = (await client.get(f"/api/v1/admin/accounts/{patient}", headers=op)).json()
        assert (await client.get("/api/v1/operator/review/users", headers=op)).status_code == 200
        assert (await client.get("/api/v1/admin/session-flags", headers=op)).status_code == 200
    masked = listed["pat"]["pinfl"]
    assert masked == "*" * 10 + pinfl(3)[-4:]  # next to the full name: the last four digits only
    assert listed["doc"]["pinfl"] == pinfl(2)  # staff: the operator administers them by PINFL
    assert one["account"]["pinfl"] == pinfl(3)  # looked up on purpose: whole, and audited
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        c = audit_log.c
        rows = (await tx.execute(select(audit_log).where(c.login == "op").order_by(c.at))).all()
    assert [(r.action, r.object, r.patient, r.outcome) for r in rows] == [
        ("admin.account/list", "accounts", None, "ok"),
        ("admin.account/read", str(patient), pinfl(3), "ok"),  # in the patient's own access log too
        ("operator.review/users", "inventory", None, "ok"),
        ("admin.account/flags", "session-flags", None, "ok")]
