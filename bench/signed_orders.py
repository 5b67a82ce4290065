"""Signed prescription orders for the ``rx`` path: one request body per line, each used once.

An order is what ``POST /api/v1/erecipe/prescriptions/`` takes: the order a client builds (a new
id, ``drafted_at`` now) and the doctor's detached CMS signature over ``canonical_json(order)``,
made with the dev CA's key for the doctor (the deployment's ``signature.dev`` adapter trusts that
CA). Signing and verifying must be fresh (ten minutes), and an order issues once, so every wrk
run gets a file of its own, written just before it; signing one takes well under a millisecond.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from adapters.signature.dev import DevSignature
from core.canonical import canonical_json
from ports.kits.pki import Credential, sign_cms

LINE = {"line": 1, "inn": "Amoxicillin", "form": "capsule", "strength": "500 mg", "dose": "1 capsule",
        "frequency": "3 times a day", "route": "oral", "duration_days": 7, "quantity": 21}


class Orders:
    """Writes files of signed orders for ``pinfls`` (rotating) at ``facility``, signed by ``doctor``."""

    def __init__(self, keys: Path, doctor: str, facility: str, pinfls: list[str], folder: Path) -> None:
        self.cred: Credential = DevSignature(keys).enroll(doctor, "Bench Doctor")
        self.facility, self.pinfls, self.folder = facility, pinfls, folder
        self.made = 0

    def write(self, count: int) -> Path:
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out = self.folder / f"orders-{self.made}.jsonl"
        with out.open("wb") as f:
            for n in range(count):
                pinfl = self.pinfls[(self.made + n) % len(self.pinfls)]
                order = {"action": "issue", "id": str(uuid.uuid4()), "drafted_at": at,
                         "facility": self.facility, "patient_pinfl": pinfl, "diagnosis": "J06.9",
                         "category": "standard", "valid_days": 30, "lines": [LINE]}
                signed = base64.b64encode(sign_cms(self.cred, canonical_json(order), detached=True)).decode()
                f.write(msgspec.json.encode({"order": order, "signature": signed}))
                f.write(b"\n")
        self.made += count
        return out
