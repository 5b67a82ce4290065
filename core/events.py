"""The event catalogue: what modules tell each other.

Every event is a frozen msgspec struct tagged with a dotted ``type`` (``<module>.<what_happened>``).
It carries its own id (handlers deduplicate by it), a schema ``version``, when it occurred, and the
patient (PINFL) and facility it concerns where relevant. The relay delivers events of one patient
in the order they were committed.

Adding a field with a default is a compatible change; renaming or retyping one bumps ``version``.
"""

from __future__ import annotations

from datetime import datetime
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
    """Decode a stored event; an unknown type is an error, not a silent drop."""
    cls = catalogue().get(event_type)
    if cls is None:
        raise LookupError(f"unknown event type {event_type!r}")
    return msgspec.json.decode(payload, type=cls)


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
