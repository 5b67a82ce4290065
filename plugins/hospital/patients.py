"""Finding the patient a request names, through the medical card's patient directory port."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from core.errors import ValidationFailed
from ports.directory import SERVICE, PatientDirectory, PatientSummary
from ports.storage import Transaction


def directory(services: dict[str, Any]) -> PatientDirectory:
    found: PatientDirectory = services[SERVICE]
    return found


async def find(services: dict[str, Any], tx: Transaction, patient_id: UUID) -> PatientSummary:
    """The registered patient, or a 422 naming the field (the body referred to nobody)."""
    patient = await directory(services).by_id(patient_id, tx)
    if patient is None:
        detail = f"no patient {patient_id} is registered on the medical card"
        raise ValidationFailed(detail, errors=[{"field": "patient_id", "message": detail}])
    return patient
