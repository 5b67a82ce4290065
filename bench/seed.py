"""A fresh database per run, migrated and seeded by the project's own code and API.

The schema and the facility/doctor come from the project's runtime (migrations, identity adapter);
patients and their entries go through the running project's HTTP API, so every seeded row is
exactly what the API writes. ``bench_outbox`` and ``bench_audit`` (the baseline's outbox and audit
trail) copy the shapes of the project's, indexes included.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from typing import Any

import asyncpg
import httpx

from core.clock import utcnow
from core.pinfl import check_digit
from host.runtime import Runtime
from host.settings import Settings
from host.tables import facilities, facility_modules

FACILITY = "bench-polyclinic"
DOCTOR = "bench-doctor"
PASSWORD = "bench-password-not-secret"
DOCTOR_PINFL = "30101909000018"  # the doctor signs prescriptions: the certificate's PINFL is the account's


async def recreate_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def prepare_schema(settings: Settings, dsn: str) -> None:
    """Migrate; add the facility (modules installed) and a doctor; create the baseline's outbox."""
    rt = Runtime.plan(settings)
    await rt.open()
    try:
        await rt.migrate()
        async with rt.storage.transaction() as tx:
            await tx.execute(facilities.insert().values(id=FACILITY, name="Bench polyclinic",
                                                        kind="polyclinic", region="Tashkent",
                                                        created_at=utcnow()))
            for module in settings.modules:
                await tx.execute(facility_modules.insert().values(facility=FACILITY, module=module,
                                                                  enabled_at=utcnow()))
        if "erecipe" in settings.modules:  # signed orders' lines name medicines of the register
            from plugins.erecipe.medicines_import import DEMO_FILE, import_file
            await import_file(rt.storage, DEMO_FILE.read_bytes(), utcnow(), progress=None)
        uid = await rt.identity.create_account(login=DOCTOR, password=PASSWORD, kind="staff",
                                               full_name="Bench Doctor", pinfl=DOCTOR_PINFL)
        await rt.identity.grant(uid, FACILITY, "doctor", qualification_number="Q-BENCH",
                                qualification_issuer="Ministry of Health",
                                qualification_date=dt.date(2020, 6, 30))
    finally:
        await rt.storage.close()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE bench_outbox (LIKE shifo_outbox INCLUDING ALL)")
        await conn.execute("CREATE TABLE bench_audit (LIKE shifo_audit INCLUDING ALL)")
    finally:
        await conn.close()


def make_pinfl(rng: random.Random, n: int) -> tuple[str, str, str]:
    """A valid, unique PINFL (serial ``n`` in digits 8-13); returns (pinfl, birth date, sex)."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 60))
    sex = rng.choice(("male", "female"))
    first = ("3" if sex == "male" else "4") if born.year < 2000 else ("5" if sex == "male" else "6")
    head = f"{first}{born:%d%m%y}{n:06d}"
    return head + str(check_digit(head)), born.isoformat(), sex


async def login(client: httpx.AsyncClient) -> str:
    r = await client.post("/api/v1/auth/login", json={"login": DOCTOR, "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["access_token"])


async def seed_records(url: str, token: str, patients: int, entries: int, concurrency: int = 16,
                       seed: int = 42) -> list[str]:
    """Register ``patients`` patients with ``entries`` pulse readings each; returns their ids."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}", "X-Facility": FACILITY}
    gate = asyncio.Semaphore(concurrency)
    now = utcnow().replace(microsecond=0)

    async def call(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
        async with gate:
            r = await client.post(path, json=body, headers=headers)
        if r.status_code != 201:
            raise RuntimeError(f"seeding {path} answered {r.status_code}: {r.text}")
        return r.json()

    async def one(client: httpx.AsyncClient, n: int) -> str:
        pinfl, born, sex = make_pinfl(rng, n)
        patient = await call(client, "/api/v1/medcard/patients", {
            "pinfl": pinfl, "surname": "Karimov", "given_name": "Aziz", "patronymic": "Bahodirovich",
            "birth_date": born, "sex": sex})
        path = f"/api/v1/medcard/patients/{patient['id']}/entries"
        await asyncio.gather(*(call(client, path, {
            "kind": "indicator", "code": "pulse", "value": 60 + (n + k) % 40,
            "performed_at": (now - dt.timedelta(hours=k + 1)).isoformat().replace("+00:00", "Z"),
        }) for k in range(entries)))
        return str(patient["id"])

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        return list(await asyncio.gather(*(one(client, n) for n in range(patients))))
