"""Each role's allowed and refused actions on the card, through the HTTP API."""

from __future__ import annotations

from typing import Any

from core.pinfl import check_digit
from tests.medcard.card import (
    API,
    complaint,
    diagnosis,
    ecg,
    finding,
    lab,
    new_patient,
    pulse,
    seed,
    settings_for,
)
from tests.support import login, serving

# action -> roles allowed; everything else must answer 403.
ALLOWED = {
    "register": {"doctor", "resident", "nurse"},
    "read_patient": {"doctor", "resident", "nurse"},
    "indicator": {"doctor", "resident", "nurse"},
    "diagnosis": {"doctor", "resident"},
    "lab": {"doctor", "resident"},
    "instrumental": {"doctor", "resident"},
    "complaint": {"doctor", "resident"},
    "finding": {"doctor", "resident"},
    "timeline": {"doctor", "resident", "nurse"},
    "report": {"doctor", "resident"},
    "module": {"doctor", "resident", "nurse", "pharmacist"},
}


async def _try(client: Any, auth: dict[str, str], action: str, pid: str, n: int) -> int:
    card = f"{API}/patients/{pid}"
    posts = {"indicator": ("indicators", pulse()), "diagnosis": ("diagnoses", diagnosis()),
             "lab": ("lab-results", lab()), "instrumental": ("instrumental-results", ecg()),
             "complaint": ("complaints", complaint()), "finding": ("findings", finding())}
    if action in posts:
        path, body = posts[action]
        return int((await client.post(f"{card}/{path}", json=body, headers=auth)).status_code)
    if action == "register":
        first13 = f"3010190{n:06d}"
        body = {"pinfl": first13 + str(check_digit(first13)), "surname": "Aliyev", "given_name": "Vali",
                "birth_date": "1990-01-01", "sex": "male"}
        return int((await client.post(f"{API}/patients", json=body, headers=auth)).status_code)
    path = {"read_patient": card, "timeline": f"{card}/entries", "report": f"{API}/reports/late-entries",
            "module": f"{API}/"}[action]
    return int((await client.get(path, headers=auth)).status_code)


async def test_role_matrix(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        pid = await new_patient(client, await login(client, "doctor"))
        n = 0
        for role in ("doctor", "resident", "nurse", "pharmacist"):
            auth = await login(client, role)
            for action, roles in ALLOWED.items():
                n += 1
                status = await _try(client, auth, action, pid, n)
                expected = (200, 201) if role in roles else (403,)
                assert status in expected, (role, action, status)
        assert (await client.get(f"{API}/patients/{pid}/entries")).status_code == 401
