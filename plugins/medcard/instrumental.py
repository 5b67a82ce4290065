"""Instrumental results (ECG, ultrasound, X-ray, CT, MRI, endoscopy): a conclusion, measured values
and references to the images or traces, which live in a document store or PACS, not here."""

from __future__ import annotations

import math

import msgspec

from core.errors import ValidationFailed
from plugins.medcard.inputs import InstrumentalIn
from plugins.medcard.kinds import Normalized


def normalize(data: InstrumentalIn) -> Normalized:
    for m in data.measurements:
        if not math.isfinite(m.value):
            raise ValidationFailed(f"measurement {m.name!r} must be a finite number",
                                   errors=[{"field": "measurements", "message": "not finite"}])
    stored = {"modality": data.modality, "study": data.study, "conclusion": data.conclusion,
              "findings": data.findings,
              "measurements": [msgspec.to_builtins(m) for m in data.measurements],
              "attachments": [msgspec.to_builtins(a) for a in data.attachments],
              "requested_by": None if data.requested_by is None else str(data.requested_by)}
    return Normalized(code=data.modality, data=stored, clinical_status="final")
