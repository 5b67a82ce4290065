"""Complaints and examination findings: the clinician's free text of the outpatient and inpatient
cards (what the patient reports; what the examination shows). The schema bounds the length; here
a text of only whitespace is refused, since it would stand on the card as an empty record."""

from __future__ import annotations

from core.errors import ValidationFailed
from plugins.medcard.inputs import ComplaintIn, FindingIn
from plugins.medcard.kinds import Normalized


def _text(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not value.strip():
        raise ValidationFailed(f"{field} must not be blank", errors=[{"field": field, "message": "blank"}])
    return value.strip()


def normalize_complaint(data: ComplaintIn) -> Normalized:
    stored = {"complaints": _text("complaints", data.complaints), "history": _text("history", data.history)}
    return Normalized(code="complaint", data=stored)


def normalize_finding(data: FindingIn) -> Normalized:
    stored = {"findings": _text("findings", data.findings), "system": _text("system", data.system)}
    return Normalized(code="finding", data=stored)
