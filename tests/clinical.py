"""A patient's clinical history built through the native HTTP API, for the FHIR and patient-app tests.

``seed`` prepares facility F1 running all four modules with a doctor, a nurse and a pharmacist (each
with a PINFL and a dev EDS key) before the app starts; ``build_history`` then records, as clinicians
would: the patient, vital signs (blood pressure among them), a diagnosis, a flagged laboratory
result and an ECG during an outpatient visit closed with its diagnosis, an inpatient stay from
admission to discharge, and a signed prescription partially dispensed. It returns every id.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from adapters.signature.dev import DevSignature
from core.canonical import canonical_json
from core.clock import utcnow
from core.pinfl import check_digit
from host.pluginapi import FhirRequest, FhirResource
from host.settings import Settings
from tests.erecipe.rx import load_register
from tests.support import ALL_MODULES, add_facility, add_user, login, opened

MEDCARD, POLY, HOSP, RX = "/api/v1/medcard", "/api/v1/polyclinic", "/api/v1/hospital", "/api/v1/erecipe"
FACILITY = "F1"
PATIENT = {"pinfl": "30211975910033", "surname": "Usmonov", "given_name": "Salim",
           "patronymic": "Saliyevich", "birth_date": "1997-11-02", "sex": "male"}


def _pinfl(n: int) -> str:
    first13 = f"3010190{n:06d}"
    return first13 + str(check_digit(first13))


STAFF = {"doctor": _pinfl(901), "nurse": _pinfl(902), "pharmacist": _pinfl(903)}


def settings_for(db_url: str, keys: Path, **extra: Any) -> Settings:
    """Every module, the dev signer with keys under ``keys``, and a fast relay (cards fill from events)."""
    return Settings(database_url=db_url, run_relay=True, relay_poll_seconds=0.1, modules=ALL_MODULES,
                    signature_adapter="dev", signature_dev_keys_dir=str(keys), **extra)


async def seed(settings: Settings, *, patient_account: bool = False) -> dict[str, Any]:
    """Facility F1 with all four modules and its staff; returns the account ids by role.
    Call it before the app starts; returns ``{"doctor": uuid, "nurse": uuid, "pharmacist": uuid}``
    (and ``"patient"``: the account of the history's patient, login "patient", when asked)."""
    ids: dict[str, Any] = {}
    async with opened(settings) as rt:
        await load_register(rt)  # prescription lines name medicines of the register
        await add_facility(rt, FACILITY, ALL_MODULES)
        for role in ("doctor", "nurse"):
            ids[role] = await add_user(rt, role, grants=[(FACILITY, role)], pinfl=STAFF[role])
        ids["pharmacist"] = await add_user(rt, "pharmacist", grants=[(FACILITY, "pharmacist")],
                                           pinfl=STAFF["pharmacist"])
        if patient_account:
            ids["patient"] = await add_user(rt, "patient", kind="patient", pinfl=PATIENT["pinfl"])
    return ids


def signer_for(settings: Settings) -> DevSignature:
    """A dev signer holding the same keys as the app's signature adapter."""
    return DevSignature(Path(settings.signature_dev_keys_dir or ""))


async def until(probe: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """Poll ``probe`` until it returns something truthy (events arrive right after the relay runs)."""
    async with asyncio.timeout(timeout):
        while not (found := await probe()):
            await asyncio.sleep(0.05)
    return found


def _ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


async def sign(signer: DevSignature, content: bytes, role: str) -> str:
    """Base64 detached signature of ``content`` by the seeded ``role``'s dev key."""
    return base64.b64encode(await signer.sign(content, signer_pinfl=STAFF[role])).decode()


async def build_history(client: Any, signer: DevSignature, *, patient: dict[str, Any] | None = None
                        ) -> dict[str, Any]:
    """Record a whole clinical history for one patient through the API (after :func:`seed`).

    Returns ``patient_id``, ``pinfl``, ``visit_id``, ``stay_id``, ``bp_id``, ``pulse_id``,
    ``diagnosis_id``, ``lab_id``, ``ecg_id`` (card entry ids), ``rx_id``, ``rx_number``,
    ``dispense_id``, and the ``headers`` of doctor, nurse and pharmacist.
    """
    card = {**PATIENT, **(patient or {})}
    doc, nurse, ph = [await login(client, u) for u in ("doctor", "nurse", "pharmacist")]
    out: dict[str, Any] = {"pinfl": card["pinfl"], "headers": {"doctor": doc, "nurse": nurse,
                                                                "pharmacist": ph}}
    pid = (_ok(await client.post(f"{MEDCARD}/patients", json=card, headers=doc)))["id"]
    out["patient_id"] = pid
    visit = _ok(await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc))
    vid = out["visit_id"] = visit["id"]
    at = (utcnow() - timedelta(minutes=30)).isoformat()
    base = f"{MEDCARD}/patients/{pid}"

    async def entry(path: str, body: dict[str, Any], who: dict[str, str] = doc) -> str:
        body = {"performed_at": at, "encounter_id": vid, **body}
        return str((_ok(await client.post(f"{base}/{path}", json=body, headers=who)))["id"])

    out["bp_id"] = await entry("indicators", {"code": "blood_pressure", "systolic": 150, "diastolic": 95},
                               nurse)
    out["pulse_id"] = await entry("indicators", {"code": "pulse", "value": 88}, nurse)
    out["diagnosis_id"] = await entry("diagnoses", {"code": "I10", "rank": "primary",
                                                    "verification": "confirmed", "note": "new onset"})
    out["lab_id"] = await entry("lab-results", {"test": "Potassium", "loinc": "2823-3", "value": 5.8,
                                                "reference_low": 3.5, "reference_high": 5.1})
    out["ecg_id"] = await entry("instrumental-results", {
        "modality": "ecg", "study": "12-lead ECG", "conclusion": "Sinus rhythm, left ventricular hypertrophy.",
        "findings": "SV1 + RV5 = 38 mm.",
        "measurements": [{"name": "QTc", "value": 412, "unit": "ms"}],
        "attachments": [{"uri": "https://pacs.example/ecg/1", "media_type": "application/pdf",
                         "title": "ECG trace"}]})

    async def diagnosed() -> Any:
        got = (await client.get(f"{POLY}/visits/{vid}/card", headers=doc)).json()
        return got.get("diagnoses")
    await until(diagnosed)
    _ok(await client.post(f"{POLY}/visits/{vid}/close", json={}, headers=doc), 200)

    ward = _ok(await client.post(f"{HOSP}/wards", headers=doc,
                                       json={"name": f"Cardio {card['pinfl']}", "profile": "cardiology", "beds": ["C-1"]}))
    stay = _ok(await client.post(f"{HOSP}/stays", headers=doc, json={
        "patient_id": pid, "bed_id": ward["beds"][0]["id"], "diagnosis": "I10"}))
    out["stay_id"] = stay["id"]
    _ok(await client.post(f"{HOSP}/stays/{stay['id']}/discharge", headers=doc, json={
        "diagnosis": "I10", "outcome": "improved", "summary": "Blood pressure controlled."}), 200)

    rx = await prescribe(client, signer, doc, card["pinfl"])
    out["rx_id"], out["rx_number"] = rx["id"], rx["number"]
    items = [{"line": 1, "medicine": "4781000101305", "quantity": 10, "batch": "B-2291",
              "expiry": (date.today() + timedelta(days=400)).isoformat()}]
    content = canonical_json({"action": "dispense", "number": rx["number"], "items": items})
    done = _ok(await client.post(f"{RX}/dispensing/{rx['number']}", headers=ph, json={
        "items": items, "signature": await sign(signer, content, "pharmacist")}), 201)
    out["dispense_id"] = done["id"]
    return out


async def prescribe(client: Any, signer: DevSignature, doc: dict[str, str], pinfl: str) -> dict[str, Any]:
    """Draft, sign with the doctor's dev key and issue a 30-day amlodipine prescription."""
    line = {"inn": "Amlodipine", "form": "tablet", "strength": "5 mg", "dose": "1 tablet",
            "frequency": "once a day", "route": "oral", "duration_days": 30, "quantity": 30}
    d = _ok(await client.post(f"{RX}/prescriptions/drafts", headers=doc, json={
        "patient_pinfl": pinfl, "diagnosis": "I10", "category": "standard", "lines": [line]}))
    sig = await sign(signer, base64.b64decode(d["canonical"]), "doctor")
    return _ok(await client.post(f"{RX}/prescriptions/{d['id']}/issue", headers=doc,
                                       json={"signature": sig, "content": d["canonical"]}), 200)


@asynccontextmanager
async def fhir_providers(settings: Settings) -> AsyncIterator[tuple[FhirRequest, dict[str, FhirResource]]]:
    """A read transaction on a fresh runtime (the app must be closed) and the modules' FHIR
    providers by resource type, for calling ``read``/``search`` directly."""
    async with opened(settings) as rt, rt.storage.transaction(readonly=True) as tx:
        found: dict[str, FhirResource] = {}
        for info, resources in rt.modules.fhir_resources():
            for res in resources:
                found.setdefault(res.type, res)
                found[f"{info.name}:{res.type}"] = res
        yield FhirRequest(tx=tx, services=rt.services, pinfl_system=settings.fhir_pinfl_system), found
