"""Request and response types of the medical card (entry inputs per kind are in ``inputs.py``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

# Letters of any script (Uzbek Latin and Cyrillic), with the o/g marks (U+02BB), apostrophes
# (U+02BC, U+2019, U+2018, ', `), hyphen and space. \Z, not $: $ would let a trailing newline in.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100,
                                   pattern=r"^[^\W\d_](?:[^\W\d_]|[\u02bb\u02bc\u2019\u2018'`\- ])*\Z")]
PinflText = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{14}\Z")]
Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=500)]
Sex = Literal["male", "female"]


class PatientIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pinfl: PinflText
    surname: Name
    given_name: Name
    patronymic: Name | None = None
    birth_date: date
    sex: Sex


class Patient(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    pinfl: str
    surname: str
    given_name: str
    patronymic: str | None
    birth_date: date
    sex: str
    registered_at: datetime


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One version of a card entry; ``id`` names the entry across versions, ``version_id`` this one."""

    id: UUID
    version_id: UUID
    version: int
    status: str  # current | superseded | entered_in_error
    patient_id: UUID
    kind: str
    code: str
    data: dict[str, Any]
    performed_at: datetime
    recorded_at: datetime
    author: UUID
    role: str
    facility: str
    encounter_id: UUID | None
    late: bool
    reason: str | None = None


class EntryPage(msgspec.Struct, frozen=True):
    items: list[Entry]
    next: str | None


class TimelineEntry(Entry, frozen=True, kw_only=True, tag_field="item", tag="entry"):
    """A card entry on the merged timeline, told from a record by ``"item": "entry"``."""


class RecordItem(msgspec.Struct, frozen=True, kw_only=True, tag_field="item", tag="record"):
    """A prescription, outpatient visit or inpatient stay on the timeline (``"item": "record"``), as
    the other modules' events describe it; ``performed_at`` is when it began (issued, opened,
    admitted)."""

    id: UUID  # the card's row for it, the timeline key's tiebreak
    record_id: UUID  # the prescription's, visit's or stay's own id in its module
    source: str  # erecipe | polyclinic | hospital
    kind: str  # prescription | outpatient_visit | inpatient_stay
    status: str
    summary: dict[str, Any]
    performed_at: datetime
    updated_at: datetime


class TimelinePage(msgspec.Struct, frozen=True):
    """One page of the merged timeline: the card's entries and the other modules' records."""

    items: list[TimelineEntry | RecordItem]
    next: str | None


class ErrorIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Mark an entry "entered in error"; ``version`` is the current version you saw (409 if stale)."""

    version: Annotated[int, msgspec.Meta(ge=1)]
    reason: Reason


class LateEntry(msgspec.Struct, frozen=True, kw_only=True):
    entry: Entry
    delay_hours: float


class UserCount(msgspec.Struct, frozen=True, kw_only=True):
    author: UUID
    role: str
    late_entries: int


class LateReport(msgspec.Struct, frozen=True, kw_only=True):
    facility: str
    late_after_hours: float
    by_user: list[UserCount]
    entries: list[LateEntry]


class CompletenessReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the card alone can see is missing; visit-based checks belong to the polyclinic."""

    facility: str
    unconfirmed_diagnoses: list[Entry]  # provisional for longer than ``stale_after_days``
    pending_lab_results: list[Entry]  # lab entries recorded without a result
