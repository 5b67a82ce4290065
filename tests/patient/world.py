"""A world for the patient-app tests: the clinical history of ``tests.clinical`` for a first patient,
lighter histories (an indicator, a diagnosis, a lab result, a visit, a stay, a prescription partly
dispensed) for the others, and a patient-app account for each (``patient<n>``).

``tests.clinical.build_history`` creates a ward with a fixed name, so it runs once per world; the
other patients get their records here.
"""

from __future__ import annotations

import base64
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from adapters.signature.dev import DevSignature
from core.canonical import canonical_json
from core.clock import utcnow
from core.pinfl import check_digit
from host.settings import Settings
from tests import clinical
from tests.clinical import HOSP, MEDCARD, POLY, RX
from tests.support import add_user, login, opened

PATIENT_API = "/api/v1/patient"
NO_CARD = "patient0"  # a patient-app account whose PINFL no clinician has registered yet


def pinfl(n: int) -> str:
    """PINFLs of men born 1997-11-02, as ``clinical.PATIENT``'s birth date requires."""
    first13 = f"3021197{n + 100:06d}"
    return first13 + str(check_digit(first13))


def card(n: int) -> dict[str, Any]:
    return {**clinical.PATIENT, "pinfl": pinfl(n), "given_name": "Salim" + "abcdefghij"[n % 10]}


def settings_for(db_url: str, keys: Path) -> Settings:
    return clinical.settings_for(db_url, keys)


async def seed(settings: Settings, patients: int) -> dict[str, Any]:
    """Staff of ``tests.clinical`` and accounts ``patient1..patient<n>`` (plus one without a card)."""
    ids = await clinical.seed(settings)
    async with opened(settings) as rt:
        for n in range(patients + 1):
            ids[f"patient{n}"] = await add_user(rt, f"patient{n}", kind="patient", pinfl=pinfl(n))
    return ids


async def _ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def _ago(minutes: int) -> str:
    return (utcnow() - timedelta(minutes=minutes)).isoformat()


async def lighter_history(client: Any, signer: DevSignature, n: int) -> dict[str, Any]:
    """Patient ``n``'s records: fewer than ``build_history`` but one of every kind the app shows."""
    doc, nurse, ph = [await login(client, u) for u in ("doctor", "nurse", "pharmacist")]
    c = card(n)
    out: dict[str, Any] = {"pinfl": c["pinfl"]}
    pid = out["patient_id"] = (await _ok(await client.post(f"{MEDCARD}/patients", json=c, headers=doc)))["id"]
    vid = out["visit_id"] = (await _ok(await client.post(f"{POLY}/visits", json={"patient_id": pid},
                                                         headers=doc)))["id"]
    base = f"{MEDCARD}/patients/{pid}"

    async def entry(path: str, body: dict[str, Any], who: dict[str, str] = doc) -> str:
        body = {"performed_at": _ago(20), "encounter_id": vid, **body}
        return str((await _ok(await client.post(f"{base}/{path}", json=body, headers=who)))["id"])

    out["pulse_id"] = await entry("indicators", {"code": "pulse", "value": 60 + n}, nurse)
    out["diagnosis_id"] = await entry("diagnoses", {"code": "J06.9", "rank": "primary",
                                                    "verification": "provisional"})
    out["lab_id"] = await entry("lab-results", {"test": "Potassium", "loinc": "2823-3", "value": 4.0,
                                                "reference_low": 3.5, "reference_high": 5.1})
    ward = await _ok(await client.post(f"{HOSP}/wards", headers=doc,
                                       json={"name": f"Ward {n}", "profile": "therapy", "beds": ["1"]}))
    out["stay_id"] = (await _ok(await client.post(f"{HOSP}/stays", headers=doc, json={
        "patient_id": pid, "bed_id": ward["beds"][0]["id"], "diagnosis": "J06.9"})))["id"]
    rx = await _prescribe(client, signer, doc, c["pinfl"])
    out["rx_id"], out["rx_number"] = rx["id"], rx["number"]
    items = [{"line": 1, "medicine": "4781000040529", "quantity": 5, "batch": f"B-{n}",
              "expiry": (date.today() + timedelta(days=400)).isoformat()}]
    content = canonical_json({"action": "dispense", "number": rx["number"], "items": items})
    sig = base64.b64encode(await signer.sign(content, signer_pinfl=clinical.STAFF["pharmacist"])).decode()
    await _ok(await client.post(f"{RX}/dispensing/{rx['number']}", headers=ph,
                                json={"items": items, "signature": sig}))
    return out


async def _prescribe(client: Any, signer: DevSignature, doc: dict[str, str], who: str) -> dict[str, Any]:
    line = {"inn": "Paracetamol", "form": "tablet", "strength": "500 mg", "dose": "1 tablet",
            "frequency": "3 times a day", "route": "oral", "duration_days": 5, "quantity": 15}
    d = await _ok(await client.post(f"{RX}/prescriptions/drafts", headers=doc, json={
        "patient_pinfl": who, "diagnosis": "J06.9", "category": "standard", "lines": [line]}))
    raw = await signer.sign(base64.b64decode(d["canonical"]), signer_pinfl=clinical.STAFF["doctor"])
    return await _ok(await client.post(f"{RX}/prescriptions/{d['id']}/issue", headers=doc, json={
        "signature": base64.b64encode(raw).decode(), "content": d["canonical"]}), 200)


async def build(client: Any, signer: DevSignature, patients: int) -> list[dict[str, Any]]:
    """Histories of patients 1..n (patient 1's is ``build_history``'s); each with its app ``token``."""
    first = await clinical.build_history(client, signer, patient=card(1))
    records = [first, *[await lighter_history(client, signer, n) for n in range(2, patients + 1)]]
    doc = first["headers"]["doctor"]
    for n, rec in enumerate(records, 1):
        rec["login"] = f"patient{n}"
        rec["token"] = await login(client, f"patient{n}")
        await settled(client, doc, rec)
    return records


async def settled(client: Any, doc: dict[str, str], rec: dict[str, Any]) -> None:
    """Wait until the relay delivered the patient's last event (the dispense), so that answers built
    from events (visit cards, the timeline's records) stop changing under the test."""
    async def dispensed() -> bool:
        r = await client.get(f"{MEDCARD}/patients/{rec['patient_id']}/records",
                             params={"kind": "prescription"}, headers=doc)
        return r.status_code == 200 and [x["status"] for x in r.json()] == ["partially_dispensed"]
    await clinical.until(dispensed)


def markers(rec: dict[str, Any]) -> set[str]:
    """Strings that identify this patient's data: any of them in another's answer is a leak."""
    keys = ("pinfl", "patient_id", "visit_id", "stay_id", "rx_id", "rx_number", "pulse_id", "bp_id",
            "diagnosis_id", "lab_id", "ecg_id", "dispense_id")
    return {str(rec[k]) for k in keys if rec.get(k)}
