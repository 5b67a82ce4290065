"""Security findings of issue #20: a lock holds under every alias of an account, a token presented
from a second address is flagged once, and the operator's reads of people's data are audited with
patients' PINFLs masked in lists."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from host.audit import audit_log
from tests.access.world import app, bearer, pinfl, settings, staff, token
from tests.support import PASSWORD, opened

LOGIN = "/api/v1/auth/login"
# no slowing down (no clock needed): only the lock after 4 failures
LIMITS = {"slow_after": 100, "lock_after": 4, "client_slow_after": 100, "client_lock_after": 100}


async def _sign_in(client: AsyncTestClient[Any], login: str, password: str) -> int:
    return (await client.post(LOGIN, json={"login": login, "password": password})).status_code


async def test_a_locked_account_stays_locked_under_its_pinfl(db_url: str) -> None:
    s = settings(db_url, **LIMITS)
    async with opened(s) as rt:
        await staff(rt, "pat", kind="patient", n=5)
        await staff(rt, "pat2", kind="patient", n=6)
    async with AsyncTestClient(app(s)) as client:
        assert [await _sign_in(client, "pat", "wrong") for _ in range(4)] == [401] * 4
        assert await _sign_in(client, "pat", PASSWORD) == 423
        assert await _sign_in(client, pinfl(5), PASSWORD) == 423  # the alias: the same account, locked

        # guesses across the aliases count together: 2 + 2 lock the account, not 4 + 4
        aliases = ["pat2", pinfl(6)] * 2
        assert [await _sign_in(client, alias, "wrong") for alias in aliases] == [401] * 4
        assert await _sign_in(client, pinfl(6), PASSWORD) == 423
        assert await _sign_in(client, "pat2", PASSWORD) == 423
        # another account from the same address is not affected
        async with opened(s) as rt:
            await staff(rt, "pat3", kind="patient", n=7)
        assert await _sign_in(client, pinfl(7), PASSWORD) == 200


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
    assert masked == pinfl(3)[:5] + "*******" + pinfl(3)[-2:] and len(masked) == 14
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
