"""The event catalogue: what modules tell each other.

Every event is a frozen msgspec struct tagged with a dotted ``type`` (``<module>.<what_happened>``).
It carries its own id (handlers deduplicate by it), a schema ``version``, when it occurred, and the
patient (PINFL) and facility it concerns where relevant. The relay delivers events of one patient
in the order they were committed.

Adding a field with a default is a compatible change; renaming or retyping one bumps ``version``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from core.clock import utcnow
from core.ids import new_id


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    id: UUID = msgspec.field(default_factory=new_id)
    version: int = 1
    occurred_at: datetime = msgspec.field(default_factory=utcnow)
    patient: str | None = None
    facility: str | None = None

    @classmethod
    def event_type(cls) -> str:
        tag = cls.__struct_config__.tag
        if not isinstance(tag, str):
            raise TypeError(f"{cls.__name__} is not a catalogue event (no tag)")
        return tag


def catalogue() -> dict[str, type[Event]]:
    """Every event type currently defined (core's and any an external package added), by tag."""
    found: dict[str, type[Event]] = {}
    stack: list[type[Event]] = list(Event.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        tag = cls.__struct_config__.tag
        if isinstance(tag, str):
            found[tag] = cls
    return found


def encode_event(event: Event) -> bytes:
    return msgspec.json.encode(event)


def decode_event(event_type: str, payload: bytes) -> Event:
    """Decode a stored event; an unknown type is an error, not a silent drop. The catalogue is
    walked again only for a type not seen before (one defined since), not for every event."""
    decoder = _DECODERS.get(event_type)
    if decoder is None:
        cls = catalogue().get(event_type)
        if cls is None:
            raise LookupError(f"unknown event type {event_type!r}")
        decoder = _DECODERS[event_type] = msgspec.json.Decoder(cls)
    event: Event = decoder.decode(payload)
    return event


_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {}


# --- the electronic medical card -------------------------------------------------------------


class PatientRegistered(Event, frozen=True, kw_only=True, tag="medcard.patient_registered"):
    patient_id: UUID
    surname: str
    given_name: str


class EntryRecorded(Event, frozen=True, kw_only=True, tag="medcard.entry_recorded"):
    """A clinician recorded an entry on a patient's card (diagnosis, indicator, result, ...)."""

    entry_id: UUID
    kind: str
    author: UUID | None = None
    encounter_id: UUID | None = None
    performed_at: datetime
    summary: dict[str, object] = msgspec.field(default_factory=dict)


class EntryCorrected(Event, frozen=True, kw_only=True, tag="medcard.entry_corrected"):
    """A new version replaced an entry's current one (the old version is kept, superseded)."""

    entry_id: UUID
    kind: str
    entry_version: int
    reason: str
    author: UUID | None = None
    encounter_id: UUID | None = None
    performed_at: datetime
    summary: dict[str, object] = msgspec.field(default_factory=dict)


class EntryEnteredInError(Event, frozen=True, kw_only=True, tag="medcard.entry_entered_in_error"):
    """An entry was marked "entered in error": it leaves the card but stays in its history."""

    entry_id: UUID
    kind: str
    entry_version: int
    reason: str
    author: UUID | None = None


class CriticalLabValue(Event, frozen=True, kw_only=True, tag="medcard.critical_lab_value"):
    """A laboratory value beyond its critical limits: the requesting clinician must act now."""

    entry_id: UUID
    requested_by: UUID
    test: str
    loinc: str | None = None
    value: float
    unit: str | None = None
    flag: str  # "LL" below the critical low limit, "HH" above the critical high one
    performed_at: datetime
    #: since 0.2: the requester the result named (``requested_by`` falls back to its author), and
    #: the visit or stay it names: whom the card's alert goes to (None in older events)
    ordered_by: UUID | None = None
    encounter_id: UUID | None = None


# --- the electronic polyclinic ---------------------------------------------------------------


class VisitOpened(Event, frozen=True, kw_only=True, tag="polyclinic.visit_opened"):
    """An outpatient visit began (check-in or walk-in); card entries with ``encounter_id`` =
    ``visit_id`` belong to it."""

    visit_id: UUID
    patient_id: UUID
    doctor: UUID
    slot_id: UUID | None = None


class VisitClosed(Event, frozen=True, kw_only=True, tag="polyclinic.visit_closed"):
    visit_id: UUID
    patient_id: UUID
    final_diagnosis: str  # ICD-10
    closed_by: UUID


class ReferralCreated(Event, frozen=True, kw_only=True, tag="polyclinic.referral_created"):
    """A referral to a hospital: the target facility's hospital module sees a pending admission."""

    referral_id: UUID
    visit_id: UUID
    patient_id: UUID
    to_facility: str
    diagnosis: str | None = None  # ICD-10
    reason: str = ""


class OrderCreated(Event, frozen=True, kw_only=True, tag="polyclinic.order_created"):
    """A laboratory (``kind="lab"``) or instrumental examination ordered during a visit."""

    order_id: UUID
    visit_id: UUID
    patient_id: UUID
    kind: str
    code: str  # LOINC or test name (lab), modality (instrumental)


class OrderClosed(Event, frozen=True, kw_only=True, tag="polyclinic.order_closed"):
    """A result recorded on the card fulfilled the order."""

    order_id: UUID
    visit_id: UUID
    entry_id: UUID


# --- the electronic hospital -----------------------------------------------------------------


class PatientAdmitted(Event, frozen=True, kw_only=True, tag="hospital.admitted"):
    stay_id: UUID
    patient_id: UUID
    ward_id: UUID
    bed_id: UUID
    diagnosis: str  # ICD-10 at admission
    referral_id: UUID | None = None
    emergency: bool = False
    attending: UUID | None = None  # since 0.2: the admitting doctor, who attends the stay


class PatientTransferred(Event, frozen=True, kw_only=True, tag="hospital.transferred"):
    stay_id: UUID
    patient_id: UUID
    from_bed: UUID
    to_ward: UUID
    to_bed: UUID
    reason: str = ""


class PatientDischarged(Event, frozen=True, kw_only=True, tag="hospital.discharged"):
    stay_id: UUID
    patient_id: UUID
    diagnosis: str  # ICD-10 at discharge
    outcome: str
    summary: str = ""


# --- the electronic prescription -------------------------------------------------------------


class PrescriptionIssued(Event, frozen=True, kw_only=True, tag="erecipe.issued"):
    """A prescriber signed and issued a prescription (``patient`` is the PINFL)."""

    prescription_id: UUID
    number: str
    category: str
    diagnosis: str  # ICD-10 code
    prescriber: UUID
    valid_until: datetime
    lines: list[dict[str, object]] = msgspec.field(default_factory=list)  # inn, form, strength, quantity

    def card_summary(self) -> dict[str, object]:
        """What any card (medical, outpatient, inpatient) shows of this prescription."""
        return {"number": self.number, "category": self.category, "diagnosis": self.diagnosis,
                "prescriber": str(self.prescriber), "valid_until": self.valid_until.isoformat(),
                "lines": [dict(line) for line in self.lines]}


class PrescriptionCancelled(Event, frozen=True, kw_only=True, tag="erecipe.cancelled"):
    prescription_id: UUID
    number: str
    reason: str
    by: UUID


class PrescriptionDispensed(Event, frozen=True, kw_only=True, tag="erecipe.dispensed"):
    """A pharmacist dispensed (part of) a prescription; ``status`` is the prescription's after it."""

    prescription_id: UUID
    number: str
    dispense_id: UUID
    status: str  # partially_dispensed | dispensed
    by: UUID
    items: list[dict[str, object]] = msgspec.field(default_factory=list)  # line, inn, quantity, remaining


class PrescriptionExpired(Event, frozen=True, kw_only=True, tag="erecipe.expired"):
    prescription_id: UUID
    number: str
    valid_until: datetime
