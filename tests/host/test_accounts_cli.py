"""``shifo accounts``: an operator manages accounts and grants at a terminal, every change audited."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from host.audit import audit_log
from host.settings import Settings
from tests.host.test_cli import shifo
from tests.support import add_facility, opened, serving

PASSWORD = "a-long-enough-passphrase"


async def test_create_grant_suspend_revoke_from_the_cli(db_url: str, tmp_path: Path) -> None:
    env = {"SHIFO_DATABASE_URL": db_url, "SHIFO_NEW_PASSWORD": PASSWORD, "SHIFO_MODULES": "medcard"}
    assert (await asyncio.to_thread(shifo, tmp_path, "migrate", **env)).returncode == 0
    settings = Settings(database_url=db_url, run_relay=False, modules=("medcard",))
    async with opened(settings) as rt:
        await add_facility(rt, "F1", ["medcard"])

    async def run(*args: str) -> str:
        done = await asyncio.to_thread(shifo, tmp_path, "accounts", *args, "--by", "op1", **env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    await run("create", "dr.aziz", "--name", "Aziz Karimov", "--pinfl", "30211975910033")
    refused = await asyncio.to_thread(shifo, tmp_path, "accounts", "grant", "dr.aziz", "--facility", "F1",
                                      "--role", "pharmacist", "--qualification", "L-1", "--issuer", "MoH",
                                      "--issued", "2020-01-01", **env)
    assert refused.returncode != 0 and "education" in (refused.stderr + refused.stdout)
    await run("grant", "dr.aziz", "--facility", "F1", "--role", "doctor", "--qualification", "D-7",
              "--issuer", "Tashkent Medical Academy", "--issued", "2019-06-30")
    assert "doctor@F1" in await run("list")

    async with serving(settings) as client:
        auth = await login_as(client)
        assert (await client.get("/api/v1/medcard/", headers=auth)).status_code == 200
        await run("suspend", "dr.aziz")
        assert (await client.get("/api/v1/medcard/", headers=auth)).status_code == 401

    async with opened(settings) as rt, rt.storage.transaction(readonly=True) as tx:
        actions = (await tx.execute(select(audit_log.c.action).where(audit_log.c.login == "op1")
                                    .order_by(audit_log.c.at))).scalars().all()
    assert actions == ["admin.account/create", "admin.account/grant", "admin.account/suspend"]


async def login_as(client) -> dict[str, str]:  # type: ignore[no-untyped-def]
    r = await client.post("/api/v1/auth/login", json={"login": "dr.aziz", "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}

