"""The benchmarks' database and load: seeded through the project's API, written to by wrk.

A fresh database per run (migrated, a facility with every module, a doctor), ``--patients``
patients with a few entries each (the load's targets), and one more patient the probes of
``propagation.py`` write to, with a patient-app account whose live stream the probes are timed on.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import seed
from cluster import PROJECT_APP, project_env
from loadgen import LUA
from servers import serving

from host.runtime import Runtime
from host.settings import Settings

PATIENT = "bench-patient"  # the probe patient's app account


class World(msgspec.Struct, kw_only=True):
    dsn: str
    db_url: str
    database: str
    token: str  # the doctor's
    ids_file: str  # seeded patients, one id a line (the load's targets)
    probe_patient: str  # the card the probes write to (no load writes there)
    probe_pinfl: str
    patient_token: str  # the probe patient's own app account: their stream
    performed_at: str


async def prepare(admin_dsn: str, database: str, patients: int, entries: int, port: int,
                  results: Path, log: Path) -> World:
    server = admin_dsn.rsplit("/", 1)[0]
    dsn = f"{server}/{database}"
    db_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    env = project_env(db_url, "inprocess", None)
    await seed.recreate_database(admin_dsn, database)
    settings = Settings.from_env({**os.environ, **env})
    await seed.prepare_schema(settings, dsn)
    pinfl, born, sex = seed.make_pinfl(random.Random(7), 999_999)
    rt = Runtime.plan(settings)
    await rt.open()
    try:
        await rt.identity.create_account(login=PATIENT, password=seed.PASSWORD, kind="patient",
                                         full_name="Bench Patient", pinfl=pinfl)
    finally:
        await rt.storage.close()
    async with serving(PROJECT_APP, port, env, log, 2) as (url, _):
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            token = await seed.login(client)
            r = await client.post("/api/v1/medcard/patients", headers={
                "Authorization": f"Bearer {token}", "X-Facility": seed.FACILITY}, json={
                "pinfl": pinfl, "surname": "Probe", "given_name": "Aziz", "birth_date": born, "sex": sex})
            r.raise_for_status()
            probe = str(r.json()["id"])
            r = await client.post("/api/v1/auth/login", json={"login": PATIENT, "password": seed.PASSWORD})
            r.raise_for_status()
            patient_token = str(r.json()["access_token"])
        ids = await seed.seed_records(url, token, patients, entries)
    ids_file = results / f"{database}-patients.txt"
    ids_file.parent.mkdir(parents=True, exist_ok=True)
    ids_file.write_text("\n".join(ids) + "\n", encoding="utf-8")
    performed_at = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return World(dsn=dsn, db_url=db_url, database=database, token=token, ids_file=str(ids_file),
                 probe_patient=probe, probe_pinfl=pinfl, patient_token=patient_token,
                 performed_at=performed_at)


# --- wrk, optionally paced: each connection pauses between requests ---------------------------

PACED = """dofile({lua!r})
local pause = 0
local base_init = init
function init(args) pause = tonumber(args[6]) or 0; base_init(args) end
function delay() return pause end
"""


async def wrk_post(wrk: str, url: str, world: World, *, connections: int, seconds: float,
                   pause_ms: float = 0.0) -> dict[str, float]:
    """Entries POSTed to the seeded patients for ``seconds``; ``pause_ms`` paces each connection."""
    script = Path(world.ids_file).with_name("paced.lua")
    script.write_text(PACED.format(lua=str(LUA.resolve())), encoding="utf-8")
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "--latency", "-s", str(script if pause_ms else LUA), url, "--", "post", world.ids_file,
           world.token, seed.FACILITY, world.performed_at, str(round(pause_ms))]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("WRK_JSON "):
            result: dict[str, float] = json.loads(line[len("WRK_JSON "):])
            result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
            result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
            return result
    raise RuntimeError(f"wrk gave no result (exit {proc.returncode}): {err.decode(errors='replace')}")
