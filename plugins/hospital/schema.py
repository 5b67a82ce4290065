"""Request and response types of the hospital module (requests refuse unknown fields)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from ports.encounter_card import AttachedEntry, EncounterCard

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Reason = Annotated[str, msgspec.Meta(max_length=500)]
Icd10Text = Annotated[str, msgspec.Meta(min_length=3, max_length=8, pattern=r"^[A-Za-z0-9.]+\Z")]
Outcome = Literal["recovered", "improved", "unchanged", "worsened", "transferred", "deceased",
                  "left_against_advice"]


class _In(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class WardIn(_In, frozen=True, kw_only=True):
    name: Name
    profile: Name  # therapy, surgery, cardiology, ...
    beds: Annotated[list[Label], msgspec.Meta(min_length=1, max_length=100)]


class AdmitIn(_In, frozen=True, kw_only=True):
    """From a pending referral (``referral_id``) or as an emergency (``patient_id``)."""

    bed_id: UUID
    diagnosis: Icd10Text
    referral_id: UUID | None = None
    patient_id: UUID | None = None


class TransferIn(_In, frozen=True, kw_only=True):
    bed_id: UUID
    reason: Reason = ""


class DischargeIn(_In, frozen=True, kw_only=True):
    diagnosis: Icd10Text
    outcome: Outcome
    summary: Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]


class Bed(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    label: str
    stay_id: UUID | None = None


class Ward(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    profile: str
    beds: list[Bed]


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    referral_id: UUID
    patient_id: UUID
    from_facility: str | None
    diagnosis: str | None
    reason: str
    received_at: datetime


class Transfer(msgspec.Struct, frozen=True, kw_only=True):
    from_ward: UUID
    from_bed: UUID
    to_ward: UUID
    to_bed: UUID
    at: datetime
    reason: str


class Stay(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    patient_id: UUID
    status: str
    emergency: bool
    admission_diagnosis: str
    ward_id: UUID
    bed_id: UUID
    admitted_at: datetime
    referral_id: UUID | None = None
    discharged_at: datetime | None = None
    discharge_diagnosis: str | None = None
    outcome: str | None = None
    summary: str | None = None


class InpatientCard(EncounterCard, frozen=True, kw_only=True):
    """The paper inpatient card: the encounter card's sections (complaints and examination
    findings, daily indicators, diagnoses, results, prescriptions), the stay from admission to
    discharge and its transfers. ``discharge_prescriptions`` lists prescriptions given at discharge
    (electronic prescriptions issued on the discharge day)."""

    stay: Stay
    transfers: list[Transfer]
    discharge_prescriptions: list[AttachedEntry]


class WardCensus(msgspec.Struct, frozen=True, kw_only=True):
    ward_id: UUID
    name: str
    beds: int
    occupied: int
    free: int


class Census(msgspec.Struct, frozen=True, kw_only=True):
    wards: list[WardCensus]
    admitted: list[Stay]
