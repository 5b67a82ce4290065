"""The prescriptions' part of ``shifo demo``: the demo doctor signs a prescription during the visit
(with the visit's diagnosis) and the demo pharmacist dispenses part of it. Signatures come from the
dev signer through ``POST /api/v1/erecipe/dev/sign`` (the caller's server-held dev key)."""

from __future__ import annotations

import base64
from datetime import date, timedelta

from core.canonical import canonical_json
from core.ids import new_id
from host.pluginapi import DemoClinic, DemoData, DemoStep

RX = "/api/v1/erecipe"
AMLODIPINE_TEVA = "04781000101305"  # its GTIN in medicines_demo.csv


async def _signed(clinic: DemoClinic, content: bytes, who: str) -> str:
    body = {"content": base64.b64encode(content).decode()}
    return str((await clinic.call("POST", f"{RX}/dev/sign", body, who, 200))["signature"])


async def register(clinic: DemoClinic) -> str:
    """The demo medicines register (about 40 common products), loaded through the dev-only route."""
    report = await clinic.call("POST", f"{RX}/dev/medicines", None, "pharmacist", 200)
    loaded = report["created"] + report["changed"]
    return f"medicines register: {loaded} products loaded" if loaded else "medicines register already loaded"


async def prescribe(clinic: DemoClinic) -> str:
    line = {"inn": "Amlodipine", "form": "tablet", "strength": "5 mg", "dose": "1 tablet",
            "frequency": "once a day", "route": "oral", "duration_days": 30, "quantity": 30}
    draft = await clinic.call("POST", f"{RX}/prescriptions/drafts", {
        "patient_pinfl": clinic.patient["pinfl"], "diagnosis": clinic.state["diagnosis"],
        "category": "standard", "lines": [line]}, "doctor")
    signature = await _signed(clinic, base64.b64decode(draft["canonical"]), "doctor")
    rx = await clinic.call("POST", f"{RX}/prescriptions/{draft['id']}/issue",
                           {"signature": signature, "content": draft["canonical"]}, "doctor", 200)
    clinic.state["prescription"] = number = str(rx["number"])
    return f"prescription {number} signed"


async def dispense(clinic: DemoClinic) -> str:
    number = clinic.state["prescription"]
    expiry = date.today() + timedelta(days=400)  # a marked Amlodipine-Teva pack: GTIN, expiry, batch, serial
    scan = f"01{AMLODIPINE_TEVA}17{expiry:%y%m%d}10B-2291\x1d21{new_id().hex[:12].upper()}"
    items = [{"line": 1, "scan": scan, "quantity": 10}]
    did = str(new_id())
    content = canonical_json({"action": "dispense", "number": number, "dispense_id": did, "items": items})
    await clinic.call("POST", f"{RX}/dispensing/{number}", {
        "items": items, "dispense_id": did, "signature": await _signed(clinic, content, "pharmacist")},
        "pharmacist")
    return "10 of its 30 tablets dispensed"


# the prescription carries the diagnosis of the polyclinic's demo visit, and is made while it is open
DEMO = DemoData(facility_kinds=("polyclinic", "hospital", "pharmacy"),
                steps=(DemoStep(order=5, run=register),
                       DemoStep(order=30, run=prescribe, needs=("polyclinic",)),
                       DemoStep(order=60, run=dispense, needs=("polyclinic",))))
