"""The patient directory: how a module finds a patient registered on the medical card.

Offered by the medcard module as the service ``"patient_directory"`` (``ctx.services``); other
modules use this Protocol and never import medcard. Pass ``tx`` to read inside a transaction you
already hold (an event handler's), so SQLite is not asked for a second connection mid-write.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol
from uuid import UUID

import msgspec

from ports.storage import Transaction

SERVICE = "patient_directory"


class PatientSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    pinfl: str
    surname: str
    given_name: str
    patronymic: str | None
    birth_date: date
    sex: str


class PatientDirectory(Protocol):
    async def by_id(self, patient_id: UUID, tx: Transaction | None = None) -> PatientSummary | None:
        """The patient with this id, or None."""

    async def by_pinfl(self, pinfl: str, tx: Transaction | None = None) -> PatientSummary | None:
        """The patient with this PINFL, or None (a malformed PINFL is simply not found)."""
