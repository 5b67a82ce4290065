"""The offline dispense journal: what a pharmacist signs for each dispense made without a
connection, and the checks an upload passes before any prescription is touched.

Each entry is signed (detached CMS) over ``canonical_json(entry)`` at the moment of the dispense:
every key present (``null`` where unknown), ``dispensed_at`` in UTC with ``Z``. The server takes a
past ``dispensed_at`` only here, only within ``offline_window_hours`` (module setting, default
72), and only with a signature by the uploading pharmacist whose signing time is the dispense's
(within ten minutes): the certificate is thereby checked as it was at ``dispensed_at``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from core.canonical import canonical_json
from core.errors import ValidationFailed
from plugins.erecipe.schema import Pinfl, Signature
from plugins.erecipe.signing import FRESH, decode
from ports.signature import Signature as SignaturePort

_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"
_UTC = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z\Z"
SKEW = timedelta(minutes=5)  # a pharmacy clock slightly ahead is not a dispense in the future
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class JournalEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Exactly what is signed; all keys required, so the server's canonical bytes are the client's."""

    action: Literal["dispense-offline"]
    entry_id: Annotated[str, msgspec.Meta(pattern=_UUID)]  # a new UUID per dispense, lowercase
    number: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]  # the prescription's (from its QR)
    line: Annotated[int, msgspec.Meta(ge=1, le=20)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    medicine: Text  # the product handed out: its register id, registration number or GTIN
    batch: Text | None
    expiry: date
    gtin: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{14}\Z")] | None  # a marked pack's, if scanned
    serial: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None
    facility: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    pharmacist_pinfl: Pinfl
    dispensed_at: Annotated[str, msgspec.Meta(pattern=_UTC)]


class SignedEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    entry: JournalEntry
    signature: Signature  # detached CMS over canonical_json(entry), made at dispensed_at


class JournalIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    entries: Annotated[list[SignedEntry], msgspec.Meta(min_length=1, max_length=500)]


class Outcome(msgspec.Struct, kw_only=True):
    entry_id: str
    outcome: Literal["accepted", "conflict", "refused"]
    reason: str | None = None
    conflict_id: UUID | None = None
    status: str | None = None  # the prescription's after an accepted entry


class JournalResult(msgspec.Struct, kw_only=True):
    accepted: int
    conflicts: int
    refused: int
    entries: list[Outcome]  # in the order sent


class Checked(msgspec.Struct, frozen=True, kw_only=True):
    """An entry whose signature and window held: ready to reconcile."""

    entry: JournalEntry
    id: UUID
    at: datetime
    canonical: bytes
    signature: bytes
    verification: dict[str, Any]


def when(entry: JournalEntry) -> datetime:
    return datetime.fromisoformat(entry.dispensed_at).astimezone(UTC)


async def check(signed: SignedEntry, *, facility: str, pinfl: str | None, port: SignaturePort,
                now: datetime, window: timedelta) -> Checked | str:
    """The entry ready to reconcile, or why it is refused (a sentence for the pharmacist)."""
    e = signed.entry
    if e.facility != facility:
        return f"the entry names facility {e.facility!r}; upload it at that facility"
    if not pinfl or e.pharmacist_pinfl != pinfl:
        return "the entry names another pharmacist: each pharmacist uploads their own entries"
    try:
        at = when(e)
    except ValueError:
        return "dispensed_at is not a date and time"
    if at > now + SKEW:
        return "dispensed_at lies in the future; check the pharmacy computer's clock"
    if at < now - window:
        return (f"dispensed_at is outside the upload window of {window.total_seconds() / 3600:g} hours: "
                "the operator must review this dispense")
    canonical = canonical_json(e)
    try:
        raw = decode(signed.signature)
    except ValidationFailed:
        return "the signature is not base64"
    verdict = await port.verify(canonical, raw, detached=True, signer_pinfl=pinfl)
    if not verdict.valid:
        return f"the signature was refused: {verdict.reason or 'not valid'}"
    if verdict.signing_time is None or abs(verdict.signing_time - at) > FRESH:
        return "the signature was not made at the dispense: its signing time differs from dispensed_at"
    plain: dict[str, Any] = msgspec.to_builtins(verdict)
    plain["verified_at"] = now.isoformat()
    return Checked(entry=e, id=UUID(e.entry_id), at=at, canonical=canonical, signature=raw,
                   verification=plain)
