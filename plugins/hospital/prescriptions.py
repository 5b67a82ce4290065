"""Prescriptions on the inpatient card, from the erecipe module's events.

A prescription belongs to the patient's stay at the issuing facility that was open when it was
issued, or that ended on that day: the relay may deliver the event after the discharge, and a
prescription written on the discharge day is a discharge prescription. It is kept as a stay entry
of kind ``prescription`` (its id is the prescription's); a cancellation marks it, not removes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update

from core.events import Event, PrescriptionCancelled, PrescriptionIssued
from host.pluginapi import EventHandler
from plugins.hospital.tables import stay_entries, stays
from ports.storage import Transaction


async def _stay_at(tx: Transaction, pinfl: str, facility: str, at: datetime) -> UUID | None:
    rows = await tx.execute(select(stays.c.id, stays.c.discharged_at).where(
        stays.c.pinfl == pinfl, stays.c.facility == facility, stays.c.admitted_at <= at)
        .order_by(stays.c.admitted_at.desc()).limit(1))
    row = rows.first()
    if row is None or (row.discharged_at is not None and row.discharged_at.date() < at.date()):
        return None
    return row.id  # type: ignore[no-any-return]


def summary(event: PrescriptionIssued) -> dict[str, Any]:
    return {**event.card_summary(), "status": "issued"}


async def on_issued(event: Event, tx: Transaction) -> None:
    assert isinstance(event, PrescriptionIssued)
    if not (event.patient and event.facility):
        return
    stay_id = await _stay_at(tx, event.patient, event.facility, event.occurred_at)
    if stay_id is None:
        return
    await tx.execute(delete(stay_entries).where(stay_entries.c.stay_id == stay_id,
                                                stay_entries.c.entry_id == event.prescription_id))
    await tx.execute(stay_entries.insert().values(
        stay_id=stay_id, entry_id=event.prescription_id, kind="prescription", performed_at=event.occurred_at,
        status="current", summary=summary(event)))


async def on_cancelled(event: Event, tx: Transaction) -> None:
    assert isinstance(event, PrescriptionCancelled)
    mine = (stay_entries.c.entry_id == event.prescription_id) & (stay_entries.c.kind == "prescription")
    for r in (await tx.execute(select(stay_entries.c.stay_id, stay_entries.c.summary).where(mine))).all():
        marked = {**r.summary, "status": "cancelled", "cancel_reason": event.reason}
        await tx.execute(update(stay_entries).where(mine, stay_entries.c.stay_id == r.stay_id)
                         .values(summary=marked))


HANDLERS = [
    EventHandler(consumer="hospital.prescriptions", event_types=(PrescriptionIssued.event_type(),),
                 handle=on_issued),
    EventHandler(consumer="hospital.prescription_cancellations",
                 event_types=(PrescriptionCancelled.event_type(),), handle=on_cancelled),
]
