"""The scale-out tests' world: a seeded database, patients registered through HTTP, and a writer
that records card entries across several app processes at once, keeping what was acknowledged.

Only a 201 is an acknowledged write. A 503 (a dependency away; "outcome unknown" when the commit's
answer was lost), a refused connection (a killed process) or a timeout is not: the tests never count on it, and the database may or may not hold it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from core.clock import utcnow
from host.settings import Settings
from host.testing.deployment import PASSWORD, pinfl, prepare
from tests.scaleout.cluster import FAST

MODULES = ("medcard", "polyclinic", "hospital", "erecipe", "probe")
FACILITY = "F1"
CARD = "/api/v1/medcard/patients"
PATIENT_LOGIN = "patient0"  # the patient-app account of the first patient registered


def probe_plugin(site: Path) -> Any:
    """The installed probe's plugin, for this process's own runtime (seeding, expectations)."""
    import sys

    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    from shifo_probe import plugin

    return plugin


async def seed(database_url: str, root: Path, probe: Any) -> None:
    """Migrate every module's schema (the probe's too); facility F1 with them, one doctor, and the
    patient-app account of patient 0."""
    settings = Settings(database_url=database_url, modules=MODULES, extra=json.loads(FAST),
                        messaging_adapter="inprocess", signature_dev_keys_dir=str(root / "keys"))
    await prepare(settings, facilities={FACILITY: MODULES}, staff={"doctor": {FACILITY: ("doctor",)}},
                  patients={PATIENT_LOGIN: pinfl(0)}, extra_plugins={"probe": probe})


async def sign_in(url: str, login: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        r = await client.post("/api/v1/auth/login", json={"login": login, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def register(urls: list[str], auth: dict[str, str], count: int) -> list[str]:
    """``count`` patients (PINFLs ``pinfl(0..count-1)``) on the card, round robin over ``urls``."""
    async def one(client: httpx.AsyncClient, n: int) -> str:
        r = await client.post(f"{urls[n % len(urls)]}{CARD}", headers=auth, json={
            "pinfl": pinfl(n), "surname": "Karimov", "given_name": "Aziz", "birth_date": "1990-01-01",
            "sex": "male"})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async with httpx.AsyncClient(timeout=30) as client:
        return list(await asyncio.gather(*(one(client, n) for n in range(count))))


def entry(n: int) -> tuple[str, dict[str, Any]]:
    """The ``n``-th write: mostly vital signs, every fourth a diagnosis (the erecipe projection
    keeps a row per diagnosis entry)."""
    at = (utcnow() - timedelta(minutes=5)).isoformat()
    if n % 4 == 3:
        return "diagnoses", {"code": "J06.9", "rank": "primary", "verification": "provisional",
                             "performed_at": at}
    return "indicators", {"code": "pulse", "value": 60 + n % 40, "performed_at": at}


class Writes:
    """Card entries written concurrently, round robin over the apps, until ``total`` were
    acknowledged: a write that was not (503, a refused connection, a timeout) is tried again as a
    new entry after a pause. ``acked`` maps each entry answered 201 to its patient."""

    def __init__(self, urls: list[str], auth: dict[str, str], patients: list[str], total: int,
                 concurrency: int = 12, give_up: float = 90.0) -> None:
        self.urls, self.auth, self.patients, self.total = urls, auth, patients, total
        self.concurrency, self.give_up = concurrency, give_up
        self.acked: dict[str, str] = {}
        self.statuses: Counter[str] = Counter()
        self._next = itertools.count()
        self._task: asyncio.Task[None] | None = None

    async def _one(self, client: httpx.AsyncClient, n: int, attempt: int) -> bool:
        kind, body = entry(n)
        patient = self.patients[n % len(self.patients)]
        url = f"{self.urls[(n + attempt) % len(self.urls)]}{CARD}/{patient}/{kind}"  # next app on a retry
        try:
            r = await client.post(url, json=body, headers=self.auth)
        except httpx.HTTPError as exc:  # a killed process, a timeout: not acknowledged
            self.statuses[type(exc).__name__] += 1
            return False
        self.statuses[str(r.status_code)] += 1
        if r.status_code != 201:
            assert r.status_code == 503, f"{url} answered {r.status_code}: {r.text}"
            assert r.headers["content-type"].startswith("application/problem+json"), r.text
            if r.json()["title"] == "Outcome unknown":  # the commit's answer was lost: no Retry-After,
                self.statuses["503 outcome unknown"] += 1  # the client reads before it resends
            else:
                assert int(r.headers.get("retry-after", 0)) > 0, f"503 without Retry-After: {r.text}"
            return False
        self.acked[str(r.json()["id"])] = patient
        return True

    async def _worker(self, client: httpx.AsyncClient, deadline: float) -> None:
        while (n := next(self._next)) < self.total:
            attempt = 0
            while not await self._one(client, n, attempt):
                attempt += 1
                assert time.monotonic() < deadline, f"no write acknowledged for long: {self.statuses}"
                await asyncio.sleep(0.1)

    async def run(self) -> None:
        deadline = time.monotonic() + self.give_up
        limits = httpx.Limits(max_connections=self.concurrency * 2)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            await asyncio.gather(*(self._worker(client, deadline) for _ in range(self.concurrency)))

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def until_acked(self, count: int, timeout: float = 60.0) -> None:
        """Wait until ``count`` writes were acknowledged (the load is still running after)."""
        assert self._task is not None
        async with asyncio.timeout(timeout):
            while len(self.acked) < count:
                if self._task.done():
                    await self._task  # its error, if it failed
                await asyncio.sleep(0.02)

    async def finish(self) -> None:
        assert self._task is not None
        await self._task
