"""Request and response types of the erecipe module.

Signatures travel as base64 text of a detached PKCS#7/CMS ``SignedData`` (DER). Quantities are
integers (canonical JSON has no floats); strengths and doses are text as printed ("500 mg").
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Signature = Annotated[str, msgspec.Meta(min_length=1, max_length=64 * 1024)]
Pinfl = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{14}\Z")]
Count = Annotated[int, msgspec.Meta(ge=1, le=10_000)]


class LineIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Names a register product (``medicine``: its register id, registration number or GTIN) or
    an INN with ``form`` and ``strength`` that some current register product has; nothing else."""

    medicine: Text | None = None
    inn: Text | None = None  # international non-proprietary name
    form: Text | None = None
    strength: Text | None = None  # value and UCUM unit, "500 mg"
    dose: Text
    frequency: Text
    route: Text
    duration_days: Annotated[int, msgspec.Meta(ge=1, le=366)]
    quantity: Count  # per dispensing


class DraftIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    patient_pinfl: Pinfl
    diagnosis: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]  # ICD-10
    lines: Annotated[list[LineIn], msgspec.Meta(min_length=1, max_length=20)]
    #: default: ``controlled`` when a line is narcotic or psychotropic, else ``standard``; another
    #: category for such a line (or ``controlled`` without one) is refused 422
    category: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    valid_days: Annotated[int, msgspec.Meta(ge=1, le=366)] | None = None  # default: the category's maximum


class Draft(msgspec.Struct, frozen=True, kw_only=True):
    """What the prescriber signs: ``canonical`` (base64) is exactly ``canonical_json(content)``."""

    id: UUID
    number: str
    content: dict[str, Any]
    canonical: str


class IssueIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    signature: Signature
    content: str | None = None  # base64 of the bytes signed; when sent, it must equal the draft's


class CancelIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]
    signature: Signature  # over canonical_json({"action": "cancel", "number": ..., "reason": ...})


class DispenseItem(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """The product handed out: ``medicine`` (register id, registration number or GTIN) with
    ``batch`` and ``expiry``, or ``scan``: the pack's GS1 DataMatrix (GTIN, serial, expiry, batch)."""

    line: Annotated[int, msgspec.Meta(ge=1, le=20)]
    quantity: Count
    medicine: Text | None = None
    batch: Text | None = None  # batch / series
    expiry: date | None = None
    scan: Annotated[str, msgspec.Meta(min_length=16, max_length=400)] | None = None


class DispenseIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A signed dispense, accepted once: ``dispense_id`` (a new UUID the pharmacy chooses) is part of
    the signed content and becomes the dispense's id, so a replay of the same signature is a 409."""

    items: Annotated[list[DispenseItem], msgspec.Meta(min_length=1, max_length=20)]
    #: over canonical_json({"action": "dispense", "number": ..., "dispense_id": ..., "items": [...]});
    #: without ``dispense_id`` (older clients) over the same object without that key
    signature: Signature
    dispense_id: UUID | None = None


class LineView(msgspec.Struct, frozen=True, kw_only=True):
    line: int
    inn: str
    form: str
    strength: str
    dose: str
    frequency: str
    route: str
    duration_days: int
    quantity: int
    remaining: int
    atc: str | None = None
    #: the register product prescribed (id, registration_number, version, trade_name); None: by INN
    medicine: dict[str, Any] | None = None


class HistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    status: str
    by: UUID | None
    reason: str | None
    detail: dict[str, Any] | None


class Prescription(msgspec.Struct, frozen=True, kw_only=True):
    """The clinician's view: everything, with the archived signature verdicts and the history."""

    id: UUID
    number: str
    qr: str
    status: str
    patient_pinfl: str
    category: str
    diagnosis: str
    facility: str
    prescriber_id: UUID
    valid_until: datetime
    issued_at: datetime | None
    content: dict[str, Any]
    verification: dict[str, Any] | None
    cancel_reason: str | None
    lines: list[LineView]
    history: list[HistoryEntry]
    #: what the patient's medical card says of ``diagnosis`` now: confirmed, provisional, refuted,
    #: entered_in_error or absent (as far as the card's events have reached this module)
    diagnosis_on_card: str = "absent"
    source: str = "online"  # online | paper: a paper form registered afterwards (``issued_at``: written)
    paper_number: str | None = None  # the paper form's number


class ForDispensing(msgspec.Struct, frozen=True, kw_only=True):
    """The pharmacist's view: what dispensing needs, no diagnosis and no clinical history."""

    number: str
    qr: str
    status: str
    patient_pinfl: str
    patient_name: str | None  # to hand the medicine to the right person
    category: str
    partial_allowed: bool
    valid_until: datetime
    prescriber: str
    facility: str
    lines: list[LineView]
    source: str = "online"  # online | paper (the paper form's number below)
    paper_number: str | None = None


class Dispensed(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    number: str
    status: str
    lines: list[LineView]  # with the quantities remaining after this dispense


class DevSignIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=256 * 1024)]  # base64 bytes to sign


class DevSigned(msgspec.Struct, frozen=True, kw_only=True):
    signature: str  # base64 detached CMS (DER), by the caller's dev key
