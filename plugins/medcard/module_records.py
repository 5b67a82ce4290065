"""What the other modules record for the patient, projected from their events onto the card.

The card never asks erecipe, polyclinic or hospital anything (plugins never import each other): it
listens to their catalogue events and keeps one row per prescription, visit or stay, upserted as
later events arrive. Delivery is at least once and may reorder after a retry, so the row depends
only on which events arrived, not on their order: a status is taken only from an event at least as
recent as every event applied (a tie goes to the later stage), ``occurred_at`` is the opening
event's time (else the earliest seen), and the summary merges, its lists kept once per item (by the
item's ``id``) in time order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import select, update

from core import events as ev
from core.ids import new_id
from host.pluginapi import EventHandler
from plugins.medcard import patients as registry
from plugins.medcard.audit import Audit
from plugins.medcard.tables import module_records
from ports.storage import Transaction

APPENDED = ("dispenses", "transfers", "referrals", "orders")  # summary keys that grow, one item per event
FIRST_STATUS = {"prescription": "issued", "outpatient_visit": "open", "inpatient_stay": "admitted"}
#: a record's stages: of two statuses set at the same moment, the later stage wins
STAGE = {"issued": 0, "open": 0, "admitted": 0, "partially_dispensed": 1,
         "dispensed": 2, "closed": 2, "discharged": 2, "cancelled": 3, "expired": 3}


class Change(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    kind: str
    record_id: UUID
    status: str | None  # None: the event changes no status (a transfer, a referral)
    summary: dict[str, Any]
    opens: bool = False  # the event that begins the record sets its occurred_at


class ModuleRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    source: str
    kind: str
    record_id: UUID
    status: str
    summary: dict[str, Any]
    occurred_at: datetime
    updated_at: datetime


def _at(value: datetime) -> str:
    return value.isoformat()


def change_of(e: ev.Event) -> Change | None:
    """The row change an event means; None for an event the card does not project."""
    rx, visit = ("erecipe", "prescription"), ("polyclinic", "outpatient_visit")
    stay = ("hospital", "inpatient_stay")
    match e:
        case ev.PrescriptionIssued():
            return Change(source=rx[0], kind=rx[1], record_id=e.prescription_id, status="issued", opens=True,
                          summary={**e.card_summary(), "facility": e.facility,
                                   "issued_at": _at(e.occurred_at)})
        case ev.PrescriptionCancelled():
            return Change(source=rx[0], kind=rx[1], record_id=e.prescription_id, status="cancelled",
                          summary={"number": e.number, "cancel_reason": e.reason,
                                   "cancelled_at": _at(e.occurred_at)})
        case ev.PrescriptionDispensed():
            return Change(source=rx[0], kind=rx[1], record_id=e.prescription_id, status=e.status,
                          summary={"number": e.number, "dispenses": [
                              {"id": str(e.dispense_id), "at": _at(e.occurred_at), "facility": e.facility,
                               "items": list(e.items)}]})
        case ev.PrescriptionExpired():
            return Change(source=rx[0], kind=rx[1], record_id=e.prescription_id, status="expired",
                          summary={"number": e.number, "valid_until": _at(e.valid_until)})
        case ev.VisitOpened():
            return Change(source=visit[0], kind=visit[1], record_id=e.visit_id, status="open", opens=True,
                          summary={"facility": e.facility, "doctor": str(e.doctor),
                                   "opened_at": _at(e.occurred_at)})
        case ev.VisitClosed():
            return Change(source=visit[0], kind=visit[1], record_id=e.visit_id, status="closed",
                          summary={"diagnosis": e.final_diagnosis, "closed_at": _at(e.occurred_at)})
        case ev.ReferralCreated():
            return Change(source=visit[0], kind=visit[1], record_id=e.visit_id, status=None, summary={
                "referrals": [{"id": str(e.referral_id), "at": _at(e.occurred_at),
                               "to_facility": e.to_facility, "diagnosis": e.diagnosis, "reason": e.reason}]})
        case ev.OrderCreated():
            return Change(source=visit[0], kind=visit[1], record_id=e.visit_id, status=None,
                          summary={"orders": [{"id": str(e.order_id), "at": _at(e.occurred_at),
                                               "kind": e.kind, "code": e.code}]})
        case ev.PatientAdmitted():
            return Change(source=stay[0], kind=stay[1], record_id=e.stay_id, status="admitted", opens=True,
                          summary={"facility": e.facility, "diagnosis": e.diagnosis, "emergency": e.emergency,
                                   "admitted_at": _at(e.occurred_at),
                                   "attending": str(e.attending) if e.attending else None})
        case ev.PatientTransferred():
            return Change(source=stay[0], kind=stay[1], record_id=e.stay_id, status=None, summary={
                "transfers": [{"id": str(e.id), "at": _at(e.occurred_at), "reason": e.reason}]})
        case ev.PatientDischarged():
            return Change(source=stay[0], kind=stay[1], record_id=e.stay_id, status="discharged",
                          summary={"discharge_diagnosis": e.diagnosis, "outcome": e.outcome,
                                   "discharged_at": _at(e.occurred_at)})
    return None


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key, value in new.items():
        merged[key] = _union(old.get(key, []), value) if key in APPENDED else value
    return merged


def _union(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items of both lists, each once (by ``id``; items from before ids were kept all stay), by time."""
    ids = {item.get("id") for item in old} - {None}
    items = [*old, *(item for item in new if item.get("id") is None or item["id"] not in ids)]
    return sorted(items, key=lambda item: (str(item.get("at", "")), str(item.get("id", ""))))


def _newer(status: str, at: datetime, row: Any) -> bool:
    if at != row.updated_at:
        return bool(at > row.updated_at)
    return STAGE.get(status, 0) >= STAGE.get(row.status, 0)


async def project(event: ev.Event, tx: Transaction) -> None:
    """The event handler: insert the record's row, or bring its status and summary up to date."""
    change = change_of(event)
    if change is None or event.patient is None:
        return
    at = event.occurred_at
    row = (await tx.execute(select(module_records).where(
        module_records.c.source == change.source, module_records.c.record_id == change.record_id))).first()
    if row is None:
        await tx.execute(module_records.insert().values(
            id=new_id(), pinfl=event.patient, source=change.source, kind=change.kind,
            record_id=change.record_id, status=change.status or FIRST_STATUS[change.kind],
            summary=change.summary, occurred_at=at, updated_at=at))
        return
    values: dict[str, Any] = {"summary": _merge(row.summary, change.summary),
                              "updated_at": max(at, row.updated_at)}
    if change.status is not None and _newer(change.status, at, row):
        values["status"] = change.status
    if change.opens or at < row.occurred_at:
        values["occurred_at"] = at
    await tx.execute(update(module_records).where(module_records.c.id == row.id).values(**values))


HANDLER = EventHandler(consumer="medcard.module_records", handle=project, event_types=tuple(
    cls.event_type() for cls in (
        ev.PrescriptionIssued, ev.PrescriptionCancelled, ev.PrescriptionDispensed, ev.PrescriptionExpired,
        ev.VisitOpened, ev.VisitClosed, ev.ReferralCreated, ev.OrderCreated,
        ev.PatientAdmitted, ev.PatientTransferred, ev.PatientDischarged)))


async def listing(tx: Transaction, patient_id: UUID, *, kind: str | None, audit: Audit) -> list[ModuleRecord]:
    """The patient's prescriptions, visits and stays, newest first (404 for an unknown patient)."""
    patient = await registry.get(tx, patient_id)
    stmt = select(module_records).where(module_records.c.pinfl == patient.pinfl)
    if kind:
        stmt = stmt.where(module_records.c.kind == kind)
    rows = (await tx.execute(stmt.order_by(module_records.c.occurred_at.desc(), module_records.c.id))).all()
    found = [ModuleRecord(id=r.id, source=r.source, kind=r.kind, record_id=r.record_id, status=r.status,
                          summary=r.summary, occurred_at=r.occurred_at, updated_at=r.updated_at)
             for r in rows]
    await audit(tx, "medcard.entry/read", patient=patient.pinfl, object=str(patient_id),
                detail=f"module records: {len(found)}")
    return found
