"""Request and response types of the polyclinic module (requests refuse unknown fields)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from ports.encounter_card import EncounterCard

Reason = Annotated[str, msgspec.Meta(max_length=500)]
Icd10Text = Annotated[str, msgspec.Meta(min_length=3, max_length=8, pattern=r"^[A-Za-z0-9.]+\Z")]


class _In(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class ScheduleIn(_In, frozen=True, kw_only=True):
    """Cut ``starts_at``..``ends_at`` into slots of ``slot_minutes`` for ``doctor``."""

    doctor: UUID
    starts_at: datetime
    ends_at: datetime
    slot_minutes: Annotated[int, msgspec.Meta(ge=5, le=240)] = 15


class BookIn(_In, frozen=True, kw_only=True):
    patient_id: UUID


class WalkInIn(_In, frozen=True, kw_only=True):
    patient_id: UUID
    doctor: UUID | None = None  # default: the caller


class CloseIn(_In, frozen=True, kw_only=True):
    """The final diagnosis is the visit's primary diagnosis on the card; ``final_diagnosis`` picks
    one code among the visit's diagnoses when there are several."""

    final_diagnosis: Icd10Text | None = None


class ReferralIn(_In, frozen=True, kw_only=True):
    kind: Literal["hospital", "lab", "instrumental"]
    to_facility: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # hospital
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None  # test / modality
    diagnosis: Icd10Text | None = None
    reason: Reason = ""


class Slot(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    doctor: UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    patient_id: UUID | None = None
    visit_id: UUID | None = None


class Queue(msgspec.Struct, frozen=True, kw_only=True):
    doctor: UUID
    day: date
    slots: list[Slot]


class Visit(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    patient_id: UUID
    doctor: UUID
    status: str
    opened_at: datetime
    slot_id: UUID | None = None
    closed_at: datetime | None = None
    final_diagnosis: str | None = None


class Referral(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    visit_id: UUID
    kind: str
    status: str
    code: str | None = None
    to_facility: str | None = None
    diagnosis: str | None = None
    reason: str = ""
    result_entry_id: UUID | None = None


class OutpatientCard(EncounterCard, frozen=True, kw_only=True):
    """The paper outpatient card's content for one visit: the encounter card's sections, the
    visit, and the referrals and orders made during it."""

    visit: Visit
    referrals: list[Referral]
