"""The alert as clinicians see it, and the card's own events that carry it to the staff stream.

These events are addressed to staff, not to other modules: nothing subscribes to them but the live
stream (``alert_stream.py``), through the messaging port. They go through the outbox like every
event, so a raise, an escalation or an acknowledgement reaches every host process once committed;
being catalogue events (``core.events.Event`` subclasses) they decode wherever the card is loaded.
None is shown to the patient: only the types a module names for the patient feed are.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from core.events import Event


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """A critical result that a clinician must acknowledge."""

    id: UUID
    entry_id: UUID  # the lab entry on the card
    patient_id: UUID | None
    pinfl: str
    facility: str
    test: str
    loinc: str | None
    value: float
    unit: str | None
    flag: str  # LL | HH
    performed_at: datetime
    raised_at: datetime
    status: str  # open | acknowledged
    assigned_to: UUID
    #: why it went to ``assigned_to``: requester (named on the result), encounter (attends the visit
    #: or stay the result names), order (the visit that ordered the test), open_encounter (attends
    #: the patient's open visit or stay here) or author (no one else is known)
    assigned_by: str
    recipients: list[UUID]
    escalated_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: UUID | None = None
    note: str | None = None


class AlertRaised(Event, frozen=True, kw_only=True, tag="medcard.alert_raised"):
    alert: Alert


class AlertEscalated(Event, frozen=True, kw_only=True, tag="medcard.alert_escalated"):
    """Unacknowledged in time: ``alert.recipients`` now holds every doctor on duty as well."""

    alert: Alert


class AlertAcknowledged(Event, frozen=True, kw_only=True, tag="medcard.alert_acknowledged"):
    alert: Alert


TYPES = tuple(cls.event_type() for cls in (AlertRaised, AlertEscalated, AlertAcknowledged))
