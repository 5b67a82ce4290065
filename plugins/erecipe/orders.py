"""Drafting and issuing in one signed request: the prescriber signs an order the client builds.

The two-step flow signs content with server-assigned parts (number, times, names), so the client
must ask for it first. Here the signed bytes are ``canonical_json(order)`` of the request's
``order`` alone: an ``id`` the client chooses (a new UUID), its ``drafted_at``, the facility and
the clinical statement. What the server adds is derived from signed values (the number from the
id and date, ``valid_until`` from ``drafted_at`` and ``valid_days``), looked up from signed keys
(the patient's name from the PINFL), or is who signed (the certificate's PINFL is the account's).
The order is used once: its id and its number are unique keys, so a replay is a 409.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from sqlalchemy import bindparam, or_, select

from core.canonical import canonical_json
from core.errors import Conflict, ValidationFailed
from core.pinfl import validate as validate_pinfl
from plugins.erecipe import prescribing
from plugins.erecipe.card_diagnoses import check as check_on_card
from plugins.erecipe.config import Category
from plugins.erecipe.issuing import issued
from plugins.erecipe.prescribing import Prescriber, qr_payload
from plugins.erecipe.prescription_lines import category_of, resolve
from plugins.erecipe.schema import LineIn, Pinfl, Signature
from plugins.erecipe.signing import FRESH, decode
from plugins.erecipe.tables import prescriptions
from ports.directory import PatientDirectory
from ports.storage import Transaction, prepared

_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"
_TAKEN = prepared(select(prescriptions.c.id).where(or_(
    prescriptions.c.id == bindparam("rx"), prescriptions.c.number == bindparam("number"))))
_INSERT = prepared(prescriptions.insert())
_UTC = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z\Z"


class OrderLine(LineIn, frozen=True, kw_only=True, forbid_unknown_fields=True):
    line: Annotated[int, msgspec.Meta(ge=1, le=20)]  # 1, 2, ... in the order given


class Clinical(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What every signed order states (an online order, a paper one registered later)."""

    id: Annotated[str, msgspec.Meta(pattern=_UUID)]  # lowercase, hyphenated; the prescription's id
    facility: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]  # where the prescriber works now
    patient_pinfl: Pinfl
    diagnosis: Annotated[str, msgspec.Meta(min_length=1, max_length=16)]  # ICD-10 as normalised
    category: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    valid_days: Annotated[int, msgspec.Meta(ge=1, le=366)]
    lines: Annotated[list[OrderLine], msgspec.Meta(min_length=1, max_length=20)]


class Order(Clinical, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Exactly what is signed: every field required, no other field allowed, so the server's
    ``canonical_json`` of what it read is byte for byte what the client signed."""

    action: Literal["issue"]
    drafted_at: Annotated[str, msgspec.Meta(pattern=_UTC)]  # UTC with "Z", within 10 minutes of now


class SignedOrderIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    order: Order
    signature: Signature  # detached CMS over canonical_json(order)
    content: str | None = None  # base64 of the bytes signed; when sent, a mismatch names the byte


class Accepted(msgspec.Struct, frozen=True, kw_only=True):
    """An order that passed every check that needs no database."""

    order: Clinical
    id: UUID
    number: str
    canonical: bytes
    category: Category
    valid_until: datetime
    written_at: datetime | None = None  # a paper prescription's: it is issued as of then
    paper_number: str | None = None


def _fail(detail: str, field: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": field, "message": detail}])


def number_of(id: UUID, drafted_at: datetime) -> str:
    """The prescription number: the drafting date and the id's last 10 hex digits (its random part
    in UUID versions 4 and 7), in the format of the two-step flow's numbers."""
    return f"{drafted_at:%y%m%d}-{id.hex[-10:].upper()}"


def moment(text: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        raise _fail(f"{field.removeprefix('order.')} is not a date and time", field) from None


def accept(data: SignedOrderIn, who: Prescriber, categories: dict[str, Category], now: datetime) -> Accepted:
    drafted = moment(data.order.drafted_at, "order.drafted_at")
    if abs(now - drafted) > FRESH:
        raise _fail("drafted_at is not within ten minutes of now: draft and sign again", "order.drafted_at")
    return checked(data.order, data.content, who, categories, drafted)


def checked(order: Clinical, content: str | None, who: Prescriber, categories: dict[str, Category],
            made: datetime) -> Accepted:
    """The checks every signed order passes before the database: ``made`` is when it was made (the
    number's date and the start of its validity)."""
    if order.facility != who.facility:
        raise _fail(f"the order names facility {order.facility!r}; you act at {who.facility!r}",
                    "order.facility")
    cat = prescribing.category(order.category, who, categories)
    validate_pinfl(order.patient_pinfl)
    if (code := prescribing.diagnosis_code(order.diagnosis)) != order.diagnosis:
        raise _fail(f"sign the diagnosis as normalised: {code!r}", "order.diagnosis")
    prescribing.validity(order.valid_days, order.category, cat)
    if [ln.line for ln in order.lines] != list(range(1, len(order.lines) + 1)):
        raise _fail("lines are numbered 1, 2, ... in the order given", "order.lines")
    canonical = canonical_json(order)
    if content is not None and (sent := decode(content, "content")) != canonical:
        at = next((i for i, (a, b) in enumerate(zip(sent, canonical, strict=False)) if a != b),
                  min(len(sent), len(canonical)))
        raise _fail(f"the signed bytes differ from canonical_json(order) from byte {at}: "
                    f"{sent[at:at + 40]!r} where the canonical form has {canonical[at:at + 40]!r}", "content")
    rx = UUID(order.id)
    return Accepted(order=order, id=rx, number=number_of(rx, made), canonical=canonical, category=cat,
                    valid_until=made + timedelta(days=order.valid_days))


async def issue(tx: Transaction, ok: Accepted, who: Prescriber, verification: dict[str, Any],
                signature: bytes, now: datetime, directory: PatientDirectory | None
                ) -> tuple[dict[str, Any], str]:
    """Insert the prescription already issued (no draft step), then what every issue writes; a
    paper one as issued when it was written. Returns the row's values and what the card says of the
    diagnosis."""
    taken = (await tx.execute(_TAKEN, {"rx": ok.id, "number": ok.number})).first()
    if taken is not None:  # only for the message: the unique keys decide
        raise Conflict(f"this signed order ({ok.id}) was already used: an order issues once; read "
                       f"GET /prescriptions/{ok.id}, or sign a new order with a new id" if taken.id == ok.id
                       else f"the number {ok.number} is taken: sign a new order with a new id")
    order = ok.order
    resolved, controlled = await resolve(tx, list(order.lines), (ok.written_at or now).date())  # the register
    category_of(order.category, controlled)  # the signed category must be the one the lines demand
    patient = await prescribing.registered(tx, directory, order.patient_pinfl)
    on_card = await check_on_card(tx, order.patient_pinfl, order.diagnosis)
    cat = ok.category
    content = {**msgspec.to_builtins(order), "number": ok.number, "qr": qr_payload(ok.number),
               "patient_name": prescribing.patient_name(patient),
               "dispensing": {"partial": cat.partial, "repeats": cat.repeats},
               "prescriber": {"id": str(who.id), "pinfl": who.pinfl, "name": who.name, "role": who.role},
               "valid_until": ok.valid_until.isoformat(),
               "lines": [{**signed, **found} for signed, found in zip(
                   msgspec.to_builtins(order.lines), resolved, strict=True)]}
    issued_at = ok.written_at or now
    row = {"id": ok.id, "number": ok.number, "status": "issued", "patient_pinfl": order.patient_pinfl,
           "category": order.category, "diagnosis": order.diagnosis, "facility": who.facility,
           "prescriber_id": who.id, "prescriber_role": who.role, "partial": int(cat.partial),
           "content": content, "canonical": ok.canonical, "signature": signature,
           "verification": verification, "created_at": now, "issued_at": issued_at,
           "valid_until": ok.valid_until, "source": "paper" if ok.paper_number else "online",
           "paper_number": ok.paper_number}
    await tx.execute(_INSERT, row)
    await issued(tx, row, who, verification, issued_at)
    return row, on_card
