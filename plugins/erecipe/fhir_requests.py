"""Prescription lines as FHIR R5 ``MedicationRequest`` (one per line, grouped by the number).

Two providers, as the native routes: :data:`RESOURCE` (``erecipe.prescription/read``: prescribers
and nurses, and the patient's own) serves every issued prescription; :data:`DISPENSING`
(``erecipe.dispensing/read``: pharmacists) what the native dispensing search shows: a prescription
found by its number in any issued state, or a patient's active ones, without the diagnosis.
A paper prescription (registered after the fact) carries its form's number as a second identifier
(system :data:`fhir_common.PAPER_SYSTEM`, assigned by the facility), and can be searched by it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_, select
from sqlalchemy.sql import ColumnElement

from core.clock import utcnow
from host.pluginapi import FhirItem, FhirQuery, FhirRequest, FhirResource, fhir_token
from plugins.erecipe import fhir_common as c
from plugins.erecipe.fhir_medications import line_medication
from plugins.erecipe.lifecycle import ACTIVE
from plugins.erecipe.tables import dispenses, prescriptions

_REASON = {"cancelled": None, "expired": "validity period ended"}


def _days(n: int) -> dict[str, Any]:
    return {"value": n, "unit": "d", "system": c.UCUM, "code": "d"}


def to_request(row: Any, line: dict[str, Any], subject: dict[str, Any], status: str) -> dict[str, Any]:
    number = {"system": c.NUMBER_SYSTEM, "value": row.number}
    prescriber = row.content.get("prescriber") or {}
    repeats = int((row.content.get("dispensing") or {}).get("repeats", 1))
    paper = [{"use": "secondary", "system": c.PAPER_SYSTEM, "value": row.paper_number,
              "assigner": c.ref("Organization", row.facility)}] if row.source == "paper" else []
    out: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": f"{row.id}-{line['line']}",
        "identifier": [{"use": "official", **number}, *paper], "groupIdentifier": number,
        "status": status, "intent": "order", "category": [{"text": row.category}],
        "medication": line_medication(line),
        "subject": subject,
        "authoredOn": (row.issued_at or row.created_at).isoformat(),
        "requester": c.ref("Practitioner", row.prescriber_id, prescriber.get("name")),
        "reason": [{"concept": {"coding": [{"system": c.ICD10, "code": row.diagnosis}]}}],
        "dosageInstruction": [{
            "text": f"{line['dose']} {line['frequency']}, {line['route']}, for {line['duration_days']} days",
            "timing": {"repeat": {"boundsDuration": _days(line["duration_days"])},
                       "code": {"text": line["frequency"]}},
            "route": {"text": line["route"]}}],
        "dispenseRequest": {
            "validityPeriod": {"start": (row.issued_at or row.created_at).isoformat(),
                               "end": row.valid_until.isoformat()},
            "numberOfRepeatsAllowed": repeats - 1,
            "quantity": {"value": line["quantity"], "unit": line["form"]},
            "expectedSupplyDuration": _days(line["duration_days"])},
        "note": [{"text": f"{line['inn']} {line['strength']} {line['form']}"}],
    }
    reason = row.cancel_reason if row.status == "cancelled" else _REASON.get(row.status)
    if status in ("cancelled", "stopped") and reason:
        out["statusReason"] = {"text": reason}
    return out


def _status_filter(word: str, now: datetime) -> ColumnElement[bool]:
    st, done = prescriptions.c.status, c.dispensed_any()
    live = and_(st.in_(ACTIVE), prescriptions.c.valid_until > now)
    return {"active": live, "completed": st == "dispensed",
            "cancelled": and_(st == "cancelled", ~done),
            "stopped": or_(and_(st == "cancelled", done), st == "expired",
                           and_(st.in_(ACTIVE), prescriptions.c.valid_until <= now))}.get(word, false())


async def _items(req: FhirRequest, row: Any, now: datetime, *, diagnosis: bool = True) -> list[FhirItem]:
    any_dispensed = (await req.tx.execute(select(dispenses.c.id).where(
        dispenses.c.prescription_id == row.id).limit(1))).first() is not None
    status = c.request_status(row, now, any_dispensed)
    subject = await req.patient_ref(row.patient_pinfl)
    out = [to_request(row, line, subject, status) for line in row.content["lines"]]
    if not diagnosis:  # the pharmacist's view, as ForDispensing: no diagnosis
        out = [{k: v for k, v in r.items() if k != "reason"} for r in out]
    return [FhirItem(resource=r, patient=row.patient_pinfl, when=row.issued_at, version=str(row.fhir_version),
                     updated=row.fhir_updated) for r in out]


def _rows() -> Any:
    return select(prescriptions, c.VERSION.label("fhir_version"), c.UPDATED.label("fhir_updated"))


async def read(req: FhirRequest, id: str, *, diagnosis: bool = True) -> FhirItem | None:
    found = c.split_id(id)
    if found is None:
        return None
    row = (await req.tx.execute(_rows().where(
        prescriptions.c.id == found[0], prescriptions.c.status != "draft"))).first()
    items = [] if row is None else await _items(req, row, utcnow(), diagnosis=diagnosis)
    return next((i for i in items if i.resource["id"] == id), None)


async def search(req: FhirRequest, query: FhirQuery, *, dispensing: bool = False) -> list[FhirItem]:
    now = utcnow()
    stmt = c.issued(query, _rows(), prescriptions.c.issued_at, c.UPDATED)
    if query.identifier is not None:
        system, value = fhir_token(query.identifier)
        stmt = stmt.where(prescriptions.c.number == value if system in (None, c.NUMBER_SYSTEM)
                          else prescriptions.c.paper_number == value if system == c.PAPER_SYSTEM else false())
    elif dispensing:  # by patient: only what may still be dispensed, as the native search
        stmt = stmt.where(prescriptions.c.status.in_(ACTIVE), prescriptions.c.valid_until > now)
    if query.status is not None:
        stmt = stmt.where(_status_filter(c.status_word(query.status), now))
    stmt = c.ordered(query, stmt, prescriptions.c.issued_at, prescriptions.c.id, c.UPDATED)
    rows = await req.tx.execute(stmt.limit(max(query.limit, 0)))
    out = [item for row in rows.all() for item in await _items(req, row, now, diagnosis=not dispensing)]
    return out[:max(query.limit, 0)]


async def read_dispensable(req: FhirRequest, id: str) -> FhirItem | None:
    return await read(req, id, diagnosis=False)


async def search_dispensable(req: FhirRequest, query: FhirQuery) -> list[FhirItem]:
    return await search(req, query, dispensing=True)


_PARAMS = ("patient", "date", "identifier", "status", "_lastUpdated")
_SORTS = ("date", "_lastUpdated")
RESOURCE = FhirResource(type="MedicationRequest", object="erecipe.prescription", action="read", read=read,
                        search=search, params=_PARAMS, sorts=_SORTS)
DISPENSING = FhirResource(type="MedicationRequest", object="erecipe.dispensing", action="read",
                          read=read_dispensable, search=search_dispensable, params=_PARAMS, sorts=_SORTS)
