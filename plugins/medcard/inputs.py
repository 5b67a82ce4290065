"""What a clinician sends to record an entry, one type per kind, and the correction envelopes.

Each kind has its own route (and so its own permission: nurses record indicators only). The
``kind`` field is optional in bodies; when given it must match the route. Free text is bounded
(``LongText``) and must hold more than whitespace (checked in ``examination.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from plugins.medcard.schema import Reason

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
LongText = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]
Unit = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[\x21-\x7e]+\Z")]  # UCUM: ASCII
Loinc = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,7}-[0-9]\Z")]
Icd10Text = Annotated[str, msgspec.Meta(min_length=3, max_length=8, pattern=r"^[A-Za-z0-9.]+\Z")]
# Attachments are references to a document store or PACS, never inline data or script URLs.
Uri = Annotated[str, msgspec.Meta(max_length=2000, pattern=r"^(https://|urn:)[\x21-\x7e]+\Z")]
VitalCode = Literal["blood_pressure", "pulse", "temperature", "respiratory_rate", "spo2", "height",
                    "weight", "glucose"]
Modality = Literal["ecg", "ultrasound", "xray", "ct", "mri", "endoscopy"]


class _Base(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind"):
    performed_at: datetime  # when it happened clinically, with a timezone
    encounter_id: UUID | None = None


class IndicatorIn(_Base, frozen=True, kw_only=True, tag="indicator"):
    """A vital sign; blood pressure carries ``systolic`` and ``diastolic``, the others ``value``."""

    code: VitalCode
    value: float | None = None
    systolic: float | None = None
    diastolic: float | None = None


class DiagnosisIn(_Base, frozen=True, kw_only=True, tag="diagnosis"):
    code: Icd10Text  # ICD-10 (WHO 2019), e.g. J06.9
    rank: Literal["primary", "secondary"]
    verification: Literal["provisional", "confirmed", "refuted"]
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class LabIn(_Base, frozen=True, kw_only=True, tag="lab"):
    """A laboratory result; without ``value`` and ``value_text`` it is an order awaiting its result."""

    test: Text  # the test's name or local code
    loinc: Loinc | None = None
    value: float | None = None
    value_text: Text | None = None  # qualitative results ("positive")
    unit: Unit | None = None
    reference_low: float | None = None
    reference_high: float | None = None
    critical_low: float | None = None
    critical_high: float | None = None
    requested_by: UUID | None = None  # the clinician told of a critical value (default: the author)


class Measurement(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Text
    value: float
    unit: Unit | None = None


class Attachment(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    uri: Uri
    media_type: Annotated[str, msgspec.Meta(max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+\Z")] | None = None
    title: Text | None = None


class InstrumentalIn(_Base, frozen=True, kw_only=True, tag="instrumental"):
    modality: Modality
    study: Text  # e.g. "Chest X-ray, PA view"
    conclusion: LongText
    findings: LongText | None = None
    measurements: Annotated[list[Measurement], msgspec.Meta(max_length=100)] = []
    attachments: Annotated[list[Attachment], msgspec.Meta(max_length=20)] = []
    requested_by: UUID | None = None


class ComplaintIn(_Base, frozen=True, kw_only=True, tag="complaint"):
    """What the patient reports: the complaints and the history of the present illness."""

    complaints: LongText  # e.g. "Dry cough for 5 days, fever up to 38.5 in the evenings"
    history: LongText | None = None  # how the illness began and developed (anamnesis morbi)


class FindingIn(_Base, frozen=True, kw_only=True, tag="finding"):
    """What the clinician finds on examination (the objective status), by body system if given."""

    findings: LongText  # e.g. "Vesicular breathing, scattered dry rales on both sides"
    system: Text | None = None  # the system or region examined, e.g. "respiratory"


EntryIn = IndicatorIn | DiagnosisIn | LabIn | InstrumentalIn | ComplaintIn | FindingIn


class ExaminationIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Several entries of one examination, recorded together (``POST .../examinations``); each
    names its ``kind``, which here is required."""

    entries: Annotated[list[EntryIn], msgspec.Meta(min_length=1, max_length=50)]


class _Correction(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    version: Annotated[int, msgspec.Meta(ge=1)]  # the current version you are correcting (409 if stale)
    reason: Reason


class IndicatorCorrection(_Correction, frozen=True, kw_only=True):
    entry: IndicatorIn


class DiagnosisCorrection(_Correction, frozen=True, kw_only=True):
    entry: DiagnosisIn


class LabCorrection(_Correction, frozen=True, kw_only=True):
    entry: LabIn


class InstrumentalCorrection(_Correction, frozen=True, kw_only=True):
    entry: InstrumentalIn


class ComplaintCorrection(_Correction, frozen=True, kw_only=True):
    entry: ComplaintIn


class FindingCorrection(_Correction, frozen=True, kw_only=True):
    entry: FindingIn
