"""Seeding shared by the polyclinic and hospital tests: facility F1 with every module, one user per
clinical role there, patients registered through the medical card's API, waiting for the relay."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from core.clock import utcnow
from core.pinfl import check_digit
from host.settings import Settings
from tests.support import ALL_MODULES, add_facility, add_user, opened

MEDCARD = "/api/v1/medcard"
POLY = "/api/v1/polyclinic"
HOSP = "/api/v1/hospital"
ROLES = ("doctor", "resident", "nurse", "pharmacist")


def settings_for(db_url: str, modules: tuple[str, ...] = ALL_MODULES) -> Settings:
    return Settings(database_url=db_url, run_relay=True, relay_poll_seconds=0.2, modules=modules)


async def seed(settings: Settings, modules: tuple[str, ...] = ALL_MODULES) -> dict[str, Any]:
    """F1 (and F2, a second hospital) run ``modules``; one user per role at F1."""
    ids: dict[str, Any] = {}
    async with opened(settings) as rt:
        await add_facility(rt, "F1", modules)
        await add_facility(rt, "F2", modules, kind="hospital")
        for role in ROLES:
            if role == "pharmacist":
                ids[role] = await add_user(rt, role)
                await rt.identity.grant(ids[role], "F1", role, qualification_number="Q-ph",
                                        qualification_issuer="Ministry of Health",
                                        qualification_date=date(2020, 6, 30), education="Pharma Institute")
            else:
                ids[role] = await add_user(rt, role, grants=[("F1", role)])
        ids["doctor2"] = await add_user(rt, "doctor2", grants=[("F2", "doctor")])
    return ids


def pinfl(n: int) -> str:
    first13 = f"3150585{n:06d}"
    return first13 + str(check_digit(first13))


async def patient(client: Any, auth: dict[str, str], n: int = 1) -> str:
    body = {"pinfl": pinfl(n), "surname": "Karimov", "given_name": "Aziz" + "abcdefghijklmnopqrstuvwxyz"[n % 26], "patronymic": None,
            "birth_date": "1985-05-15", "sex": "male"}
    r = await client.post(f"{MEDCARD}/patients", json=body, headers=auth)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def now_iso() -> str:
    return utcnow().isoformat()


async def until(probe: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:
    """Poll ``probe`` until it returns something truthy (events arrive right after commit)."""
    async with asyncio.timeout(timeout):
        while not (found := await probe()):
            await asyncio.sleep(0.05)
    return found
