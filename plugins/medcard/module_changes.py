"""What one event of another module means for the card's record of it, and the merge rules.

Delivery is at least once and may reorder after a retry, so a record's row depends only on which
events arrived, not on their order: a status is taken only from an event at least as recent as
every event applied (a tie goes to the later stage), ``occurred_at`` is the opening event's time
(else the earliest seen), and the summary merges, its lists kept once per item (by the item's
``id``) in time order. :mod:`plugins.medcard.module_records` reads and writes the rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from core import events as ev
from core.ids import new_id

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


def _newer(status: str, at: datetime, row: dict[str, Any]) -> bool:
    if at != row["updated_at"]:
        return bool(at > row["updated_at"])
    return STAGE.get(status, 0) >= STAGE.get(row["status"], 0)


def applied(row: dict[str, Any] | None, change: Change, event: ev.Event) -> dict[str, Any]:
    """The record's row (column -> value) after ``event``: a new row if ``row`` is None."""
    at = event.occurred_at
    if row is None:
        return {"id": new_id(), "pinfl": event.patient, "source": change.source, "kind": change.kind,
                "record_id": change.record_id, "status": change.status or FIRST_STATUS[change.kind],
                "summary": change.summary, "occurred_at": at, "updated_at": at}
    newer = change.status is not None and _newer(change.status, at, row)
    return {**row, "summary": _merge(row["summary"], change.summary),
            "updated_at": max(at, row["updated_at"]), "status": change.status if newer else row["status"],
            "occurred_at": at if change.opens or at < row["occurred_at"] else row["occurred_at"]}
