"""The demo patient's clinical history, recorded through the modules' HTTP API as clinicians would.

So that a newcomer who signs in as the demo patient (or reads FHIR) sees a card with something on
it: at the polyclinic the doctor opens a walk-in visit and records complaints, vitals, a finding,
an ECG, a flagged lab result and a confirmed diagnosis, signs a prescription and closes the visit;
at the hospital the resident admits, transfers and discharges while the nurse records vitals; the
pharmacist dispenses part of the prescription. Signatures come from the dev signer through
``POST /api/v1/erecipe/dev/sign`` (the caller's server-held dev key). Clinical times are minutes
ago, so nothing is flagged late. Idempotent: a card that already has entries is left alone. A
refusal stops the history and is reported, never raised.

The relay is off in the seed: ``shifo serve`` delivers the events later. One exception: a visit
closes only with its diagnosis on the visit card, which events fill, so the outbox is drained
once, in process, before closing it.
"""

from __future__ import annotations

import base64
from datetime import date, timedelta
from typing import Any

import msgspec

from core.canonical import canonical_json
from core.clock import utcnow
from core.ids import new_id
from host.demo import PATIENT_PINFL, Report
from host.demo_patients import call

MC, POLY, HOSP, RX = "/api/v1/medcard", "/api/v1/polyclinic", "/api/v1/hospital", "/api/v1/erecipe"
ICD10 = "I10"  # essential (primary) hypertension
NEEDS = ("medcard", "polyclinic", "hospital", "erecipe")
STAFF = {"doctor": "poly-01", "resident": "hosp-01", "nurse": "hosp-01", "pharmacist": "pharm-01"}


class HistoryResult(msgspec.Struct, kw_only=True):
    done: list[str] = msgspec.field(default_factory=list)
    skipped: str = ""
    refused: str = ""

    def summary(self) -> str:
        if self.skipped:
            return f"History of {PATIENT_PINFL}: not recorded ({self.skipped})."
        stop = f"; stopped: {self.refused}" if self.refused else ""
        return f"History of {PATIENT_PINFL} recorded: {', '.join(self.done) or 'nothing'}{stop}."


class Refused(Exception):
    """A step the API refused: reported in the summary."""


class Clinic:
    """Signed-in demo staff calling the in-process app; every unexpected status is a :class:`Refused`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.headers: dict[str, dict[str, str]] = {}

    async def sign_in(self, report: Report) -> None:
        known = {s.account.login: s.password for s in report.accounts}
        for login, facility in STAFF.items():
            if not known.get(login):
                raise Refused(f"the demo {login}'s password is unknown")
            body = await self.ok("POST", "/api/v1/auth/login", {"login": login, "password": known[login]},
                                 None, 200)
            self.headers[login] = {"authorization": f"Bearer {body['access_token']}", "x-facility": facility}

    async def ok(self, method: str, path: str, body: Any, who: str | None, expect: int = 201) -> Any:
        status, got = await call(self.app, method, path, body, self.headers.get(who or ""))
        if status != expect:
            detail = got.get("detail") if isinstance(got, dict) else got
            raise Refused(f"{method} {path.split('?')[0]} as {who or 'anyone'}: {status} {detail}")
        return got

    async def signed(self, content: bytes, who: str) -> str:
        body = {"content": base64.b64encode(content).decode()}
        return str((await self.ok("POST", f"{RX}/dev/sign", body, who, 200))["signature"])


async def seed(app: Any, report: Report) -> HistoryResult:
    """Record the history on ``app`` (open, relay off) unless the card already has entries."""
    runtime = app.state.runtime
    missing = [m for m in NEEDS if m not in runtime.modules.names]
    if missing:
        return HistoryResult(skipped=f"needs the {', '.join(missing)} module(s)")
    clinic, result = Clinic(app), HistoryResult()
    try:
        await clinic.sign_in(report)
        found = await clinic.ok("GET", f"{MC}/patients?pinfl={PATIENT_PINFL}", None, "doctor", 200)
        if not found:
            return HistoryResult(skipped="the demo patient is not registered")
        pid = found[0]["id"]
        if (await clinic.ok("GET", f"{MC}/patients/{pid}/entries?limit=1", None, "doctor", 200))["items"]:
            return HistoryResult(skipped="the card already has entries")
        number = await _visit(clinic, pid, result, runtime.relay)
        await _stay(clinic, pid, result)
        await _dispense(clinic, number, result)
    except Refused as refusal:
        result.refused = str(refusal)
    except (KeyError, TypeError, IndexError, ValueError) as exc:  # an answer of an unexpected shape
        result.refused = f"unexpected answer: {type(exc).__name__}: {exc}"
    return result


async def _visit(clinic: Clinic, pid: str, result: HistoryResult, relay: Any) -> str:
    """A walk-in visit with its card entries and a signed prescription; returns its number."""
    visit = (await clinic.ok("POST", f"{POLY}/visits", {"patient_id": pid}, "doctor"))["id"]
    now, card = utcnow(), f"{MC}/patients/{pid}"

    async def entry(path: str, minutes_ago: int, body: dict[str, Any], who: str = "doctor") -> None:
        at = (now - timedelta(minutes=minutes_ago)).isoformat()
        await clinic.ok("POST", f"{card}/{path}", {"performed_at": at, "encounter_id": visit, **body}, who)

    await entry("complaints", 50, {"complaints": "Headaches in the back of the head and dizziness for "
                                   "two weeks, worse in the mornings", "history": "Blood pressure up to "
                                   "160/100 at home; takes no medicines"})
    for code, value in (("pulse", 88), ("temperature", 36.7), ("weight", 84), ("height", 176)):
        await entry("indicators", 48, {"code": code, "value": value})
    await entry("indicators", 48, {"code": "blood_pressure", "systolic": 158, "diastolic": 98})
    await entry("indicators", 38, {"code": "blood_pressure", "systolic": 150, "diastolic": 95})
    await entry("findings", 45, {"system": "cardiovascular", "findings": "Heart sounds clear, rhythm "
                                 "regular, accentuated second sound over the aorta; no oedema"})
    await entry("instrumental-results", 40, {
        "modality": "ecg", "study": "12-lead ECG", "conclusion": "Sinus rhythm 86/min, signs of left "
        "ventricular hypertrophy", "measurements": [{"name": "QTc", "value": 412, "unit": "ms"}]})
    await entry("lab-results", 30, {"test": "Potassium", "loinc": "2823-3", "value": 5.6,
                                    "reference_low": 3.5, "reference_high": 5.1})
    await entry("diagnoses", 25, {"code": ICD10, "rank": "primary", "verification": "confirmed",
                                  "note": "Stage 2, first found"})
    number = await _prescribe(clinic)
    await relay.drain()  # the visit card learns its diagnosis from events (see the module docstring)
    await clinic.ok("POST", f"{POLY}/visits/{visit}/close", {}, "doctor", 200)
    result.done.append(f"a closed visit with 11 entries ({ICD10}) and prescription {number}")
    return number


async def _stay(clinic: Clinic, pid: str, result: HistoryResult) -> None:
    wards = await clinic.ok("GET", f"{HOSP}/wards", None, "resident", 200)
    free = [(w, [b for b in w["beds"] if b.get("stay_id") is None]) for w in wards]
    ward = next((w for w, beds in free if len(beds) >= 2), None) or await clinic.ok(
        "POST", f"{HOSP}/wards", {"name": "Cardiology 2", "profile": "cardiology",
                                  "beds": ["201-A", "201-B", "202-A"]}, "resident")
    beds = [b["id"] for b in ward["beds"] if b.get("stay_id") is None]
    stay = (await clinic.ok("POST", f"{HOSP}/stays", {"patient_id": pid, "bed_id": beds[0],
                                                      "diagnosis": ICD10}, "resident"))["id"]
    now = utcnow()
    for minutes_ago, (sys, dia, pulse) in ((20, (145, 92, 82)), (10, (138, 88, 78)), (1, (128, 84, 74))):
        at = (now - timedelta(minutes=minutes_ago)).isoformat()
        for body in ({"code": "blood_pressure", "systolic": sys, "diastolic": dia},
                     {"code": "pulse", "value": pulse}):
            await clinic.ok("POST", f"{MC}/patients/{pid}/indicators",
                            {"performed_at": at, "encounter_id": stay, **body}, "nurse")
    await clinic.ok("POST", f"{HOSP}/stays/{stay}/transfer",
                    {"bed_id": beds[1], "reason": "moved nearer the nurses' post"}, "resident", 200)
    await clinic.ok("POST", f"{HOSP}/stays/{stay}/discharge", {
        "diagnosis": ICD10, "outcome": "improved",
        "summary": "Blood pressure controlled on amlodipine; follow up at the polyclinic."}, "resident", 200)
    result.done.append("a hospital stay (admitted, transferred, discharged, 6 vitals)")


async def _prescribe(clinic: Clinic) -> str:
    line = {"inn": "Amlodipine", "form": "tablet", "strength": "5 mg", "dose": "1 tablet",
            "frequency": "once a day", "route": "oral", "duration_days": 30, "quantity": 30}
    draft = await clinic.ok("POST", f"{RX}/prescriptions/drafts", {
        "patient_pinfl": PATIENT_PINFL, "diagnosis": ICD10, "category": "standard", "lines": [line]},
        "doctor")
    signature = await clinic.signed(base64.b64decode(draft["canonical"]), "doctor")
    rx = await clinic.ok("POST", f"{RX}/prescriptions/{draft['id']}/issue",
                         {"signature": signature, "content": draft["canonical"]}, "doctor", 200)
    return str(rx["number"])


async def _dispense(clinic: Clinic, number: str, result: HistoryResult) -> None:
    items = [{"line": 1, "medicine": "Amlodipine-Teva 5 mg tablets", "quantity": 10, "batch": "B-2291",
              "expiry": (date.today() + timedelta(days=400)).isoformat()}]
    did = str(new_id())
    content = canonical_json({"action": "dispense", "number": number, "dispense_id": did, "items": items})
    await clinic.ok("POST", f"{RX}/dispensing/{number}", {
        "items": items, "dispense_id": did, "signature": await clinic.signed(content, "pharmacist")},
        "pharmacist")
    result.done.append("10 of its 30 tablets dispensed")
