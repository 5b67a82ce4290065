"""Shared seeding for the prescription tests: a clinic and a pharmacy, one user per role, each with
a PINFL and a dev EDS key, and helpers that draft, sign and issue through the public API."""

from __future__ import annotations

import base64
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from adapters.signature.dev import DevSignature
from core.canonical import canonical_json
from core.clock import utcnow
from core.pinfl import check_digit
from host.runtime import Runtime
from host.settings import Settings
from plugins.erecipe.medicines_import import DEMO_FILE, import_file
from tests.support import add_facility, add_user, login, opened, racing, serving

concurrent_client = racing  # requests that really overlap

API = "/api/v1/erecipe"
# GTINs of demo register products (plugins/erecipe/medicines_demo.csv)
AMOXIL, PANADOL, NUROFEN, NORVASC = "4781000010133", "4781000040529", "4781000060787", "4781000091170"
MORPHINE, TRAMAL = "4781000395070", "4781000405205"
PATIENT = "30211975910033"
PATIENT_CARD = {"pinfl": PATIENT, "surname": "Rahimov", "given_name": "Anvar", "patronymic": "Olimovich",
                "birth_date": "1997-11-02", "sex": "male"}
USERS = {"doctor": ("F1", "doctor"), "doctor2": ("F1", "doctor"), "resident": ("F1", "resident"),
         "nurse": ("F1", "nurse"), "pharmacist": ("PH", "pharmacist")}


def pinfl(n: int) -> str:
    first13 = f"3010190{n:06d}"
    return first13 + str(check_digit(first13))


PINFLS = {user: pinfl(i) for i, user in enumerate(USERS, 1)}


def settings_for(db_url: str, keys: Path) -> Settings:
    return Settings(database_url=db_url, run_relay=False, modules=("medcard", "erecipe"),
                    signature_adapter="dev", signature_dev_keys_dir=str(keys))


async def load_register(rt: Runtime) -> None:
    """The demo medicines register (about 40 products), which every prescription line must name."""
    report = await import_file(rt.storage, DEMO_FILE.read_bytes(), utcnow(), progress=None)
    assert not report.rejected, report.rejected


async def seed(settings: Settings) -> DevSignature:
    """Seed the deployment; returns a dev signer holding the same keys as the app's adapter."""
    async with opened(settings) as rt:
        await load_register(rt)
        await add_facility(rt, "F1", ["medcard", "erecipe"])
        await add_facility(rt, "PH", ["medcard", "erecipe"], kind="pharmacy")
        for user, grant in USERS.items():
            await add_user(rt, user, grants=[grant], pinfl=PINFLS[user])
    async with serving(settings) as client:  # prescriptions are for patients on the medical card
        r = await client.post("/api/v1/medcard/patients", json=PATIENT_CARD, headers=await login(client, "doctor"))
        assert r.status_code == 201, r.text
    return DevSignature(Path(settings.signature_dev_keys_dir or ""))


class Actor:
    """A signed-in user: their headers, and their dev key (or another person's, to forge)."""

    def __init__(self, client: Any, signer: DevSignature, user: str, headers: dict[str, str]) -> None:
        self.client, self.signer, self.user, self.headers = client, signer, user, headers

    async def sign(self, content: bytes, as_user: str | None = None) -> str:
        raw = await self.signer.sign(content, signer_pinfl=PINFLS[as_user or self.user])
        return base64.b64encode(raw).decode()

    async def post(self, path: str, body: Any) -> Any:
        return await self.client.post(f"{API}{path}", json=body, headers=self.headers)

    async def get(self, path: str, **params: Any) -> Any:
        return await self.client.get(f"{API}{path}", params=params, headers=self.headers)


async def actor(client: Any, signer: DevSignature, user: str) -> Actor:
    return Actor(client, signer, user, await login(client, user))


def line(**changes: Any) -> dict[str, Any]:
    return {"inn": "Amoxicillin", "form": "capsule", "strength": "500 mg", "dose": "1 capsule",
            "frequency": "3 times a day", "route": "oral", "duration_days": 7, "quantity": 21, **changes}


def morphine(**changes: Any) -> dict[str, Any]:
    """A narcotic line: the category must be ``controlled``."""
    return line(inn="Morphine", form="solution for injection", strength="10 mg/mL", dose="1 mL",
                route="intramuscular", **changes)


def draft_body(**changes: Any) -> dict[str, Any]:
    return {"patient_pinfl": PATIENT, "diagnosis": "J06.9", "category": "standard", "lines": [line()],
            **changes}


async def issued(doctor: Actor, **changes: Any) -> dict[str, Any]:
    """Draft, sign the canonical bytes, issue; returns the issued prescription."""
    r = await doctor.post("/prescriptions/drafts", draft_body(**changes))
    assert r.status_code == 201, r.text
    d = r.json()
    canonical = base64.b64decode(d["canonical"])
    assert canonical == canonical_json(d["content"])
    r = await doctor.post(f"/prescriptions/{d['id']}/issue", {"signature": await doctor.sign(canonical),
                                                              "content": d["canonical"]})
    assert r.status_code == 200, r.text
    return dict(r.json())


def item(line_no: int = 1, quantity: int = 21, **changes: Any) -> dict[str, Any]:
    return {"line": line_no, "medicine": AMOXIL, "quantity": quantity, "batch": "B-2291",
            "expiry": (date.today() + timedelta(days=400)).isoformat(), **changes}


def dispense_content(number: str, items: list[dict[str, Any]], dispense_id: str | None = None) -> bytes:
    """The bytes a pharmacist signs (without ``dispense_id``: the older form, still accepted)."""
    signed = {"action": "dispense", "number": number, "items": items}
    return canonical_json(signed if dispense_id is None else {**signed, "dispense_id": dispense_id})


async def dispense(pharmacist: Actor, number: str, items: list[dict[str, Any]],
                   signature: str | None = None, dispense_id: str | None = None) -> Any:
    """Sign (unless ``signature`` is given) and send one dispense. Without a signature this names a
    new ``dispense_id``; a given signature goes with the given ``dispense_id``, or none (older form)."""
    if signature is None:
        dispense_id = dispense_id or str(uuid4())
        signature = await pharmacist.sign(dispense_content(number, items, dispense_id))
    body = {"items": items, "signature": signature}
    return await pharmacist.post(f"/dispensing/{number}",
                                 body if dispense_id is None else {**body, "dispense_id": dispense_id})


async def cancel(doctor: Actor, rx: dict[str, Any], reason: str = "allergy reported") -> Any:
    content = canonical_json({"action": "cancel", "number": rx["number"], "reason": reason})
    return await doctor.post(f"/prescriptions/{rx['id']}/cancel",
                             {"reason": reason, "signature": await doctor.sign(content)})
