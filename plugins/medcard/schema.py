"""Request and response types of the medical card."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

# Letters of any script (Uzbek Latin and Cyrillic), with the o/g marks (U+02BB), apostrophes
# (U+02BC, U+2019, U+2018, ', `), hyphen and space.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100,
                                   pattern=r"^[^\W\d_](?:[^\W\d_]|[\u02bb\u02bc\u2019\u2018'`\- ])*$")]
PinflText = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{14}$")]
Sex = Literal["male", "female"]
VitalCode = Literal["blood_pressure", "pulse", "temperature", "respiratory_rate", "spo2", "height",
                    "weight", "glucose"]


class ModuleStatus(msgspec.Struct, frozen=True):
    module: str
    title: str
    version: str
    facility: str | None


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


class IndicatorIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True,
                  tag_field="kind", tag="indicator"):
    """A vital sign; blood pressure carries ``systolic`` and ``diastolic``, the others ``value``."""

    code: VitalCode
    performed_at: datetime
    value: float | None = None
    systolic: float | None = None
    diastolic: float | None = None
    encounter_id: UUID | None = None


EntryIn = IndicatorIn


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
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
    version: int
    status: str
    late: bool


class EntryPage(msgspec.Struct, frozen=True):
    items: list[Entry]
    next: str | None
