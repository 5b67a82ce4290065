"""Prescriptions on the outpatient card, from the erecipe module's events.

A prescription belongs to the patient's visit at the issuing facility that was open when it was
issued (the relay may deliver the event after the visit closed). It is kept as a visit entry of
kind ``prescription`` (its id is the prescription's); a cancellation marks it, not removes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, or_, select, update

from core.events import Event, PrescriptionCancelled, PrescriptionIssued
from host.pluginapi import EventHandler
from plugins.polyclinic.tables import visit_entries, visits
from ports.storage import Transaction


async def _visit_at(tx: Transaction, pinfl: str, facility: str, at: datetime) -> UUID | None:
    row = (await tx.execute(select(visits.c.id).where(
        visits.c.pinfl == pinfl, visits.c.facility == facility, visits.c.opened_at <= at,
        or_(visits.c.closed_at.is_(None), visits.c.closed_at >= at))
        .order_by(visits.c.opened_at.desc()).limit(1))).first()
    return None if row is None else row.id


def summary(event: PrescriptionIssued) -> dict[str, Any]:
    return {**event.card_summary(), "status": "issued"}


async def on_issued(event: Event, tx: Transaction) -> None:
    assert isinstance(event, PrescriptionIssued)
    if not (event.patient and event.facility):
        return
    visit_id = await _visit_at(tx, event.patient, event.facility, event.occurred_at)
    if visit_id is None:
        return
    await tx.execute(delete(visit_entries).where(visit_entries.c.visit_id == visit_id,
                                                 visit_entries.c.entry_id == event.prescription_id))
    await tx.execute(visit_entries.insert().values(
        visit_id=visit_id, entry_id=event.prescription_id, kind="prescription",
        performed_at=event.occurred_at, status="current", summary=summary(event)))


async def on_cancelled(event: Event, tx: Transaction) -> None:
    assert isinstance(event, PrescriptionCancelled)
    mine = (visit_entries.c.entry_id == event.prescription_id) & (visit_entries.c.kind == "prescription")
    for r in (await tx.execute(select(visit_entries.c.visit_id, visit_entries.c.summary).where(mine))).all():
        marked = {**r.summary, "status": "cancelled", "cancel_reason": event.reason}
        await tx.execute(update(visit_entries).where(mine, visit_entries.c.visit_id == r.visit_id)
                         .values(summary=marked))


HANDLERS = [
    EventHandler(consumer="polyclinic.prescriptions", event_types=(PrescriptionIssued.event_type(),),
                 handle=on_issued),
    EventHandler(consumer="polyclinic.prescription_cancellations",
                 event_types=(PrescriptionCancelled.event_type(),), handle=on_cancelled),
]
