"""Request and response types, the module's settings and its catalogue event."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

import msgspec

from core.events import Event

#: the national schedule's vaccines by code; a deployment adds codes in its settings
VACCINES = {"BCG": "BCG (tuberculosis)", "HEPB": "Hepatitis B", "OPV": "Polio, oral",
            "IPV": "Polio, inactivated", "PENTA": "DTP-HepB-Hib", "PCV": "Pneumococcal conjugate",
            "ROTA": "Rotavirus", "MMR": "Measles, mumps, rubella", "HPV": "Human papillomavirus",
            "TD": "Tetanus-diphtheria"}

Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{2,16}\Z")]


class ImmunizationSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``SHIFO_EXTRA={"immunization": {...}}``, checked at start-up (hook ``shifo_settings``)."""

    vaccines: dict[Code, str] = msgspec.field(default_factory=dict)  # more codes: {"COVID": "COVID-19"}
    max_dose_number: int = 6

    def __post_init__(self) -> None:
        if not 1 <= self.max_dose_number <= 20:
            raise ValueError("max_dose_number must be between 1 and 20")

    def known(self) -> dict[str, str]:
        return {**VACCINES, **self.vaccines}


class DoseIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    vaccine: Code
    dose_number: Annotated[int, msgspec.Meta(ge=1)]
    given_on: date
    lot: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9./-]{0,39}\Z")]


class Dose(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    vaccine: str
    vaccine_name: str
    dose_number: int
    given_on: date
    lot: str
    facility: str
    recorded_at: datetime


class DoseRecorded(Event, frozen=True, kw_only=True, tag="immunization.dose_recorded"):
    """A dose was given and recorded; ``patient`` is the PINFL. ``author`` stays inside the platform."""

    dose_id: UUID
    vaccine: str
    vaccine_name: str
    dose_number: int
    given_on: date
    lot: str
    author: UUID | None = None
