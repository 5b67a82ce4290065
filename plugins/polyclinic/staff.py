"""Checking the clinician a request names (a schedule's doctor), through the host's staff
directory port: only an active doctor or resident of this facility sees patients here."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from core.errors import ValidationFailed
from ports.staff import SERVICE, StaffDirectory
from ports.storage import Transaction

SEES_PATIENTS = frozenset({"doctor", "resident"})


async def check_doctor(services: dict[str, Any], tx: Transaction, facility: str, account: UUID) -> None:
    """A 422 naming the field unless ``account`` is an active doctor or resident at ``facility``.
    One answer for every refusal: the caller learns nothing of accounts beyond that."""
    directory: StaffDirectory = services[SERVICE]
    if not SEES_PATIENTS & await directory.roles_at(account, facility, tx):
        detail = f"{account} is not an active doctor or resident at facility {facility}"
        raise ValidationFailed(detail, errors=[{"field": "doctor", "message": detail}])
