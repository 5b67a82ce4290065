"""Critical results reach a clinician: the consumer of ``medcard.critical_lab_value`` makes an alert.

One alert per critical lab entry (``entry_id`` is unique), so a redelivered event, or one handled
again after its transaction rolled back, adds nothing. It is addressed to one clinician, the first
of these that is known when it arrives:

1. ``requester``: the clinician the result names as having asked for it (``requested_by``);
2. ``encounter``: the doctor of the visit, or the attending doctor of the stay, the result names;
3. ``order``: the doctor of the patient's latest visit at this facility that ordered this test;
4. ``open_encounter``: the doctor of the patient's open visit or admitted stay at this facility;
5. ``author``: whoever recorded the result.

Visits, stays and orders come from the card's module records (``module_records.py``), projected
from the polyclinic's and the hospital's events. Should those arrive only after the result (a
retried delivery), the alert goes to the author; escalation (``alert_duty.py``) still reaches every
doctor on duty if nobody acknowledges it in time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import select

from core import events as ev
from core.ids import new_id
from host.pluginapi import EventHandler
from plugins.medcard.alert_events import Alert, AlertRaised
from plugins.medcard.tables import alert_recipients, alerts, module_records, patients
from ports.storage import Transaction

VISIT, STAY = "outpatient_visit", "inpatient_stay"
OPEN = ("open", "admitted")


def to_alert(row: Any, recipients: Iterable[UUID]) -> Alert:
    m = row if isinstance(row, dict) else row._mapping
    fields = {f: m[f] for f in Alert.__struct_fields__ if f != "recipients"}
    return Alert(recipients=list(recipients), **fields)


async def recipients_of(tx: Transaction, alert_ids: list[UUID]) -> dict[UUID, list[UUID]]:
    """Each alert's recipients, in the order they were added."""
    found: dict[UUID, list[UUID]] = {a: [] for a in alert_ids}
    if alert_ids:
        r = alert_recipients.c
        for row in await tx.execute(select(r.alert_id, r.account).where(r.alert_id.in_(alert_ids))
                                    .order_by(r.added_at, r.account)):
            found[row.alert_id].append(row.account)
    return found


async def views(tx: Transaction, rows: list[Any]) -> list[Alert]:
    held = await recipients_of(tx, [row.id for row in rows])
    return [to_alert(row, held[row.id]) for row in rows]


def _doctor(record: Any) -> UUID | None:
    """The visit's doctor or the stay's attending doctor, where the record says."""
    who = record.summary.get("doctor" if record.kind == VISIT else "attending")
    return UUID(who) if who else None


def _ordered(record: Any, event: ev.CriticalLabValue) -> bool:
    codes = {code.casefold() for code in (event.loinc, event.test) if code}
    return any(order.get("kind") == "lab" and str(order.get("code", "")).casefold() in codes
               for order in record.summary.get("orders", []))


async def recipient(tx: Transaction, event: ev.CriticalLabValue) -> tuple[UUID, str]:
    """Whom the alert goes to first, and why (see the module's docstring)."""
    if event.ordered_by is not None:
        return event.ordered_by, "requester"
    m = module_records.c
    records = (await tx.execute(select(module_records).where(
        m.pinfl == event.patient, m.kind.in_((VISIT, STAY))))).all()
    latest = sorted(records, key=lambda r: r.occurred_at, reverse=True)
    here = [r for r in latest if r.summary.get("facility") == event.facility]
    candidates = (
        ("encounter", [r for r in latest if r.record_id == event.encounter_id]),
        ("order", [r for r in here if r.kind == VISIT and _ordered(r, event)]),
        ("open_encounter", [r for r in here if r.status in OPEN]),
    )
    for why, found in candidates:
        doctor = next((d for d in map(_doctor, found) if d is not None), None)
        if doctor is not None:
            return doctor, why
    return event.requested_by, "author"


async def raise_alert(event: ev.Event, tx: Transaction) -> None:
    """The event handler: the alert, its first recipient and the ``medcard.alert_raised`` event."""
    if not isinstance(event, ev.CriticalLabValue) or event.patient is None or event.facility is None:
        return
    if (await tx.execute(select(alerts.c.id).where(alerts.c.entry_id == event.entry_id))).first():
        return
    to, why = await recipient(tx, event)
    patient = (await tx.execute(select(patients.c.id).where(patients.c.pinfl == event.patient))).first()
    row = {"id": new_id(), "entry_id": event.entry_id, "pinfl": event.patient,
           "patient_id": patient.id if patient else None, "facility": event.facility, "test": event.test,
           "loinc": event.loinc, "value": event.value, "unit": event.unit, "flag": event.flag,
           "performed_at": event.performed_at, "raised_at": event.occurred_at, "assigned_to": to,
           "assigned_by": why, "status": "open", "escalated_at": None, "acknowledged_at": None,
           "acknowledged_by": None, "note": None}
    await tx.execute(alerts.insert().values(row))
    await tx.execute(alert_recipients.insert().values(alert_id=row["id"], account=to, reason="assigned",
                                                      added_at=event.occurred_at))
    await tx.publish(AlertRaised(patient=event.patient, facility=event.facility, alert=to_alert(row, [to])))


HANDLER = EventHandler(consumer="medcard.alerts", handle=raise_alert,
                       event_types=(ev.CriticalLabValue.event_type(),))
