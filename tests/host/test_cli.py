"""The ``shifo`` command, run as an operator runs it: a separate process, settings from the env."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from adapters.storage.tables import outbox
from core.clock import utcnow
from core.events import PatientRegistered
from core.ids import new_id
from core.pinfl import parse as parse_pinfl
from host.demo import ACCOUNTS, PATIENT_PINFL
from host.settings import Settings
from host.tables import facilities, facility_modules
from tests.support import opened, serving


def shifo(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHIFO_") and k != "PORT"}
    clean.setdefault("SHIFO_DATABASE_URL", f"sqlite+aiosqlite:///{cwd / 'shifo.db'}")
    return subprocess.run([sys.executable, "-m", "host.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**clean, **env})


def rows(output: str) -> list[list[str]]:
    """The table a command printed, header first, split on its column gaps."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.splitlines() if line.strip()]


async def test_migrate_then_demo_twice_seeds_once_and_logins_work(db_url: str, tmp_path: Path) -> None:
    env = {"SHIFO_DATABASE_URL": db_url}
    migrated = await asyncio.to_thread(shifo, tmp_path, "migrate", **env)
    assert migrated.returncode == 0, migrated.stderr
    assert "host" in migrated.stdout and "identity" in migrated.stdout

    first = await asyncio.to_thread(shifo, tmp_path, "demo", **env)
    assert first.returncode == 0, first.stderr
    path = tmp_path / "var" / "demo-accounts.json"
    accounts = json.loads(path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert {a["login"] for a in accounts} == {a.login for a in ACCOUNTS}
    assert set(accounts[0]) == {"login", "password", "kind", "role", "facility"}
    assert all(a["password"] in first.stdout for a in accounts)  # printed once...
    assert "/api/v1/auth/login" in first.stdout and "X-Facility" in first.stdout
    assert "patients 4 registered, 0 already there" in first.stdout

    second = await asyncio.to_thread(shifo, tmp_path, "demo", **env)
    assert second.returncode == 0, second.stderr
    assert not any(a["password"] in second.stdout for a in accounts)  # ...and only once
    assert json.loads(path.read_text()) == accounts
    assert "patients 0 registered, 4 already there" in second.stdout

    settings = Settings(database_url=db_url, run_relay=False)
    async with opened(settings) as rt, rt.storage.transaction(readonly=True) as tx:
        ids = [r.id for r in await tx.execute(select(facilities.c.id))]
        pharmacy = {r.module for r in await tx.execute(
            select(facility_modules.c.module).where(facility_modules.c.facility == "pharm-01"))}
    assert sorted(ids) == ["hosp-01", "pharm-01", "poly-01"]
    assert pharmacy == {"medcard", "erecipe"}

    password = {a["login"]: a["password"] for a in accounts}
    async with serving(settings) as client:
        tokens = {}
        for login, secret in password.items():
            r = await client.post("/api/v1/auth/login", json={"login": login, "password": secret})
            assert r.status_code == 200, (login, r.text)
            tokens[login] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        poly = {"X-Facility": "poly-01"}
        doctor, registrar = {**tokens["doctor"], **poly}, {**tokens["registrar"], **poly}
        assert (await client.get("/api/v1/medcard/", headers=doctor)).status_code == 200
        assert (await client.get("/api/v1/medcard/", headers=registrar)).status_code == 403
        assert (await client.get("/api/v1/erecipe/", headers=tokens["pharmacist"])).status_code == 200
        assert (await client.get("/api/v1/polyclinic/", headers=tokens["pharmacist"])).status_code == 403
        found = await client.get("/api/v1/medcard/patients", params={"pinfl": PATIENT_PINFL},
                                 headers={**tokens["doctor"], **poly})
        assert found.status_code == 200 and [p["surname"] for p in found.json()] == ["Yusupov"]


def test_plugins_lists_modules_and_which_are_enabled(tmp_path: Path) -> None:
    out = shifo(tmp_path, "plugins", SHIFO_MODULES="medcard,erecipe")
    assert out.returncode == 0, out.stderr
    table = {r[0]: r for r in rows(out.stdout)[1:]}
    assert set(table) == {"medcard", "polyclinic", "hospital", "erecipe"}
    assert table["erecipe"][1:4] == ["yes", "0.1.0", "medcard"]
    assert table["polyclinic"][1] == "no" and table["medcard"][1] == "yes"


def test_routes_show_a_permission_for_every_route(tmp_path: Path) -> None:
    out = shifo(tmp_path, "routes")
    assert out.returncode == 0, out.stderr
    header, *table = rows(out.stdout)
    assert header == ["METHOD", "PATH", "PERMISSION", "WHO"]
    assert len(table) > 8 and all(len(r) == 4 and "NONE" not in r[2] for r in table)
    by_path = {(r[0], r[1]): r for r in table}
    assert by_path[("POST", "/api/v1/auth/login")][2] == "public"
    assert by_path[("GET", "/api/v1/medcard")][2:] == ["medcard.module/read",
                                                      "doctor, nurse, pharmacist, resident"]
    assert by_path[("GET", "/api/v1/hospital")][3] == "doctor, nurse, resident"


async def test_events_failed_and_retry_and_audit_verify(tmp_path: Path) -> None:
    env = {"SHIFO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}"}

    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(shifo, tmp_path, "events", *args, **env)

    assert (await asyncio.to_thread(shifo, tmp_path, "migrate", **env)).returncode == 0
    empty, none, audit = await asyncio.gather(
        run("failed"), run("retry"), asyncio.to_thread(shifo, tmp_path, "audit", "verify", **env))
    assert audit.returncode == 0 and "audit trail intact: 0 entries" in audit.stdout, audit.stderr
    assert empty.returncode == 0 and "no parked deliveries" in empty.stdout
    assert none.returncode == 0 and "re-queued 0" in none.stdout

    event = PatientRegistered(patient=PATIENT_PINFL, patient_id=new_id(), surname="A", given_name="B")
    async with opened(Settings(database_url=env["SHIFO_DATABASE_URL"])) as rt:
        async with rt.storage.transaction() as tx:
            await tx.publish(event)
            seq = (await tx.execute(select(outbox.c.seq))).scalar_one()
        await rt.storage.outbox.record_failure(seq, "polyclinic.cards", "RuntimeError: boom\nmore",
                                               utcnow(), True)
    listed, other = await asyncio.gather(run("failed"), run("retry", "--seq", str(seq + 1)))
    assert listed.returncode == 0, listed.stderr
    assert rows(listed.stdout)[1] == [str(seq), "polyclinic.cards", "medcard.patient_registered",
                                      str(event.id), "1", "yes", "RuntimeError: boom"]
    assert "re-queued 0" in other.stdout
    retried = await run("retry", "--seq", str(seq))
    assert retried.returncode == 0 and "re-queued 1 parked delivery" in retried.stdout
    parked, everything = await asyncio.gather(run("failed"), run("failed", "--all"))
    assert "no parked deliveries" in parked.stdout
    assert rows(everything.stdout)[1][:2] == [str(seq), "polyclinic.cards"]  # due again, not parked


def test_configuration_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    cases = [
        (("migrate",), {"SHIFO_MODULES": "medcard,nope"}, "unknown module 'nope'"),
        (("routes",), {"SHIFO_MODULES": "erecipe"}, "requires medcard"),
        (("demo",), {"SHIFO_STORAGE_ADAPTER": "nope"}, "unknown storage adapter 'nope'"),
        (("migrate",), {"SHIFO_DATABASE_URL": "mysql://db/shifo"}, "unsupported database 'mysql'"),
        (("migrate",), {"SHIFO_POOL_SIZE": "many"}, "pool_size"),
        (("serve", "--workers", "2"), {}, "several workers need PostgreSQL"),
        (("serve",), {"PORT": "http"}, "PORT must be a number"),
    ]
    with ThreadPoolExecutor(len(cases)) as pool:
        results = list(pool.map(lambda case: shifo(tmp_path, *case[0], **case[1]), cases))
    for (args, env, message), out in zip(cases, results, strict=True):
        assert out.returncode == 2, (args, env, out.stdout, out.stderr)
        assert out.stderr.startswith("shifo: configuration error:") and message in out.stderr, out.stderr
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert not (tmp_path / "shifo.db").exists()  # nothing was written


def test_demo_people_have_valid_distinct_pinfls() -> None:
    pinfls = [a.pinfl for a in ACCOUNTS]
    assert None not in pinfls and len(set(pinfls)) == len(pinfls)
    for pinfl in pinfls:
        assert pinfl is not None
        parse_pinfl(pinfl)  # raises on a wrong check digit or date


async def test_erecipe_expire_sweeps_once_and_needs_the_module(tmp_path: Path) -> None:
    from plugins.erecipe.tables import prescriptions
    from tests.erecipe.rx import actor, issued, seed, settings_for  # the prescription test world

    url = f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}"
    s = settings_for(url, tmp_path / "keys")
    signer = await seed(s)
    async with serving(s) as client:
        rx = await issued(await actor(client, signer, "doctor"))
    async with opened(s) as rt, rt.storage.transaction() as tx:
        await tx.execute(update(prescriptions).where(prescriptions.c.number == rx["number"])
                         .values(valid_until=utcnow() - timedelta(minutes=1)))

    def expire(modules: str) -> subprocess.CompletedProcess[str]:
        return shifo(tmp_path, "erecipe", "expire", SHIFO_DATABASE_URL=url, SHIFO_MODULES=modules)

    first = await asyncio.to_thread(expire, "medcard,erecipe")
    assert first.returncode == 0 and first.stdout.strip() == "expired 1 prescription", first.stderr
    again = await asyncio.to_thread(expire, "medcard,erecipe")
    assert again.returncode == 0 and again.stdout.strip() == "expired 0 prescriptions", again.stderr
    off = await asyncio.to_thread(expire, "medcard")
    assert off.returncode == 2 and "erecipe module is not enabled" in off.stderr
