"""Prescriptions on the inpatient card, from the erecipe module's events.

A prescription belongs to the patient's stay at the issuing facility that was open when it was
issued, or that ended on that day: the relay may deliver the event after the discharge, and a
prescription written on the discharge day is a discharge prescription. It is kept as a stay entry
of kind ``prescription`` (its id is the prescription's); a cancellation marks it, not removes it,
and a retried issue delivered after the cancellation does not undo it.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import select

from core.events import Event, PrescriptionCancelled, PrescriptionIssued
from host.pluginapi import EventHandler
from plugins.hospital.inbound import MIRROR
from plugins.hospital.tables import stays
from ports.projection import told
from ports.storage import Transaction


async def _stay_at(tx: Transaction, pinfl: str, facility: str, at: datetime) -> UUID | None:
    rows = await tx.execute(select(stays.c.id, stays.c.discharged_at).where(
        stays.c.pinfl == pinfl, stays.c.facility == facility, stays.c.admitted_at <= at)
        .order_by(stays.c.admitted_at.desc()).limit(1))
    row = rows.first()
    if row is None or (row.discharged_at is not None and row.discharged_at.date() < at.date()):
        return None
    return row.id  # type: ignore[no-any-return]


async def on_issued(event: Event, tx: Transaction) -> None:
    assert isinstance(event, PrescriptionIssued)
    if not (event.patient and event.facility):
        return
    stay_id = await _stay_at(tx, event.patient, event.facility, event.occurred_at)
    await MIRROR.apply(tx, [(told(event), stay_id)])


async def on_cancelled(event: Event, tx: Transaction) -> None:
    """A mark over the prescription wherever it is attached, kept if the issue has not arrived yet."""
    assert isinstance(event, PrescriptionCancelled)
    await MIRROR.apply(tx, [(told(event), None)])


HANDLERS = [
    EventHandler(consumer="hospital.prescriptions", event_types=(PrescriptionIssued.event_type(),),
                 handle=on_issued),
    EventHandler(consumer="hospital.prescription_cancellations",
                 event_types=(PrescriptionCancelled.event_type(),), handle=on_cancelled),
]
