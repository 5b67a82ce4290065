"""Shared seeding for the medical card tests: two facilities, one user per role, helpers."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from core.clock import utcnow
from host.settings import Settings
from tests.support import add_facility, add_user, login, opened

API = "/api/v1/medcard"
SURNAME, GIVEN = "O\u02bbrinboyev", "G\u02bbayrat"  # with the o/g turned comma of Uzbek Latin
VALID = {"pinfl": "30211975910033", "surname": SURNAME, "given_name": GIVEN,
         "patronymic": "Shavkatovich", "birth_date": "1997-11-02", "sex": "male"}
ROLES = ("doctor", "resident", "nurse", "pharmacist")


def settings_for(db_url: str, **extra: Any) -> Settings:
    return Settings(database_url=db_url, run_relay=False, modules=("medcard",), **extra)


async def seed(settings: Settings, extra_plugins: dict[str, Any] | None = None) -> dict[str, Any]:
    """Facilities F1 and F2 with medcard; users doctor/resident/nurse/pharmacist at F1, doctor2 at F2."""
    ids = {}
    async with opened(settings, extra_plugins) as rt:
        await add_facility(rt, "F1", ["medcard"])
        await add_facility(rt, "F2", ["medcard"])
        for role in ("doctor", "resident", "nurse"):
            ids[role] = await add_user(rt, role, grants=[("F1", role)])
        ids["pharmacist"] = await add_user(rt, "pharmacist")
        await rt.identity.grant(ids["pharmacist"], "F1", "pharmacist", qualification_number="Q-ph",
                                qualification_issuer="Ministry of Health",
                                qualification_date=date(2020, 6, 30), education="Tashkent Pharma Institute")
        ids["doctor2"] = await add_user(rt, "doctor2", grants=[("F2", "doctor")])
    return ids


async def headers(client: Any, user: str) -> dict[str, str]:
    return await login(client, user)


async def new_patient(client: Any, auth: dict[str, str], **changes: Any) -> str:
    r = await client.post(f"{API}/patients", json={**VALID, **changes}, headers=auth)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def ago(**delta: float) -> str:
    return (utcnow() - timedelta(**delta)).isoformat()


def pulse(value: float = 72, **changes: Any) -> dict[str, Any]:
    return {"code": "pulse", "value": value, "performed_at": ago(minutes=5), **changes}


def diagnosis(code: str = "J06.9", **changes: Any) -> dict[str, Any]:
    return {"code": code, "rank": "primary", "verification": "provisional", "performed_at": ago(minutes=5),
            **changes}


def lab(value: float | None = 4.1, **changes: Any) -> dict[str, Any]:
    return {"test": "Potassium", "loinc": "2823-3", "value": value, "reference_low": 3.5,
            "reference_high": 5.1, "performed_at": ago(minutes=5), **changes}


def ecg(**changes: Any) -> dict[str, Any]:
    return {"modality": "ecg", "study": "12-lead ECG", "conclusion": "Sinus rhythm, 72/min.",
            "measurements": [{"name": "QTc", "value": 412, "unit": "ms"}],
            "attachments": [{"uri": "https://pacs.example/ecg/1", "media_type": "application/pdf"}],
            "performed_at": ago(minutes=5), **changes}


def complaint(**changes: Any) -> dict[str, Any]:
    return {"complaints": "Dry cough for 5 days, fever up to 38.5 in the evenings.",
            "history": "Fell ill after a cold; took paracetamol.", "performed_at": ago(minutes=5), **changes}


def finding(**changes: Any) -> dict[str, Any]:
    return {"findings": "Vesicular breathing, scattered dry rales on both sides.", "system": "respiratory",
            "performed_at": ago(minutes=5), **changes}
