"""Prescriptions on the outpatient card, from the erecipe module's events.

A prescription belongs to the patient's visit at the issuing facility that was open when it was
issued (the relay may deliver the event after the visit closed). It is kept as a visit entry of
kind ``prescription`` (its id is the prescription's); a cancellation marks it, not removes it,
and a retried issue delivered after the cancellation does not undo it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import or_, select

from core.events import Event, PrescriptionCancelled, PrescriptionIssued
from host.pluginapi import EventHandler
from plugins.polyclinic.inbound import MIRROR
from plugins.polyclinic.tables import visits
from ports.projection import told
from ports.storage import Transaction


async def _visit_at(tx: Transaction, pinfl: str, facility: str, at: datetime) -> UUID | None:
    row = (await tx.execute(select(visits.c.id).where(
        visits.c.pinfl == pinfl, visits.c.facility == facility, visits.c.opened_at <= at,
        or_(visits.c.closed_at.is_(None), visits.c.closed_at >= at))
        .order_by(visits.c.opened_at.desc()).limit(1))).first()
    return None if row is None else row.id


async def on_issued(event: Event, tx: Transaction) -> None:
    assert isinstance(event, PrescriptionIssued)
    if not (event.patient and event.facility):
        return
    visit_id = await _visit_at(tx, event.patient, event.facility, event.occurred_at)
    await MIRROR.apply(tx, [(told(event), visit_id)])


async def on_cancelled(event: Event, tx: Transaction) -> None:
    """A mark over the prescription wherever it is attached, kept if the issue has not arrived yet."""
    assert isinstance(event, PrescriptionCancelled)
    await MIRROR.apply(tx, [(told(event), None)])


HANDLERS = [
    EventHandler(consumer="polyclinic.prescriptions", event_types=(PrescriptionIssued.event_type(),),
                 handle=on_issued),
    EventHandler(consumer="polyclinic.prescription_cancellations",
                 event_types=(PrescriptionCancelled.event_type(),), handle=on_cancelled),
]
