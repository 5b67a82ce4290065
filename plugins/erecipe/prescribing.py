"""Prescribing: a draft the prescriber signs, issuing it, cancelling it.

Two steps, so the server assigns the number and fixes the validity *before* anyone signs:
``draft`` validates everything synchronously (category, role, PINFL, ICD-10, validity cap) and
returns the canonical bytes; ``issuing.issue`` accepts a signature over exactly those bytes.
``orders.py`` drafts and issues in one signed request instead.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import bindparam, select, update

from core import icd10
from core.canonical import canonical_json
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from core.events import PrescriptionCancelled
from core.ids import new_id
from core.pinfl import validate as validate_pinfl
from plugins.erecipe.card_diagnoses import check as check_on_card
from plugins.erecipe.config import Category
from plugins.erecipe.lifecycle import ACTIVE, record, refusal
from plugins.erecipe.prescription_lines import category_of, resolve
from plugins.erecipe.schema import Draft, DraftIn
from plugins.erecipe.tables import prescriptions
from ports.directory import PatientDirectory, PatientSummary
from ports.storage import Transaction, prepared

QR_PREFIX = "SHIFO-RX:1:"
_BY_ID = prepared(select(prescriptions).where(prescriptions.c.id == bindparam("rx")))
_LOCKED = prepared(_BY_ID.with_for_update())


class Prescriber(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    pinfl: str | None
    name: str
    role: str
    facility: str


def qr_payload(number: str) -> str:
    return QR_PREFIX + number


def _fail(detail: str, field: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": field, "message": detail}])


def cancel_content(number: str, reason: str) -> bytes:
    """What the prescriber signs to cancel."""
    return canonical_json({"action": "cancel", "number": number, "reason": reason})


def category(name: str, who: Prescriber, categories: dict[str, Category]) -> Category:
    """The category, if this prescriber may use it (422 unknown, 403 not theirs), and a PINFL to sign."""
    cat = categories.get(name)
    if cat is None:
        raise _fail(f"unknown category {name!r}; known: {', '.join(sorted(categories))}", "category")
    if who.role not in cat.prescribers:
        raise Forbidden(f"a {who.role} may not prescribe the {name} category "
                        f"(only {', '.join(cat.prescribers)})")
    if not who.pinfl:
        raise _fail("your account has no PINFL on record, so you cannot sign prescriptions", "prescriber")
    return cat


def diagnosis_code(text: str) -> str:
    try:
        return icd10.normalize(text)
    except ValidationFailed as exc:
        raise _fail(exc.detail, "diagnosis") from None


def validity(days: int, name: str, cat: Category) -> int:
    if days > cat.max_validity_days:
        raise _fail(f"the {name} category allows at most {cat.max_validity_days} days of validity",
                    "valid_days")
    return days


async def registered(tx: Transaction, directory: PatientDirectory | None, pinfl: str
                     ) -> PatientSummary | None:
    """The patient on the medical card (None without a directory); 422 when not registered."""
    patient = await directory.by_pinfl(pinfl, tx) if directory is not None else None
    if directory is not None and patient is None:
        raise _fail("no patient with this PINFL on the medical card: register the patient first",
                    "patient_pinfl")
    return patient


def patient_name(patient: PatientSummary | None) -> str | None:
    if patient is None:
        return None
    return " ".join(filter(None, (patient.surname, patient.given_name, patient.patronymic)))


async def draft(tx: Transaction, data: DraftIn, who: Prescriber, categories: dict[str, Category],
                now: datetime, directory: PatientDirectory | None) -> Draft:
    """``directory``: the medical card's patient directory; the patient must be registered there.
    The lines are checked against the medicines register, which also decides a ``controlled`` category."""
    content_lines, controlled = await resolve(tx, data.lines, now.date())
    name = category_of(data.category, controlled)
    cat = category(name, who, categories)
    validate_pinfl(data.patient_pinfl)
    patient = await registered(tx, directory, data.patient_pinfl)
    diagnosis = diagnosis_code(data.diagnosis)
    await check_on_card(tx, data.patient_pinfl, diagnosis)
    days = validity(data.valid_days or cat.max_validity_days, name, cat)
    number = f"{now:%y%m%d}-{secrets.token_hex(5).upper()}"
    valid_until = now + timedelta(days=days)
    content = {
        "number": number, "qr": qr_payload(number), "patient_pinfl": data.patient_pinfl,
        "patient_name": patient_name(patient),
        "diagnosis": diagnosis, "category": name,
        "dispensing": {"partial": cat.partial, "repeats": cat.repeats},
        "lines": content_lines,
        "prescriber": {"id": str(who.id), "pinfl": who.pinfl, "name": who.name, "role": who.role},
        "facility": who.facility, "drafted_at": now.isoformat(), "valid_until": valid_until.isoformat(),
    }
    canonical = canonical_json(content)
    rx = new_id()
    await tx.execute(prescriptions.insert().values(
        id=rx, number=number, status="draft", patient_pinfl=data.patient_pinfl, category=name,
        diagnosis=diagnosis, facility=who.facility, prescriber_id=who.id, prescriber_role=who.role,
        partial=int(cat.partial), content=content, canonical=canonical, created_at=now,
        valid_until=valid_until))
    await record(tx, rx, "draft", by=who.id, at=now)
    return Draft(id=rx, number=number, content=content, canonical=base64.b64encode(canonical).decode())


async def load(tx: Transaction, rx: UUID, *, lock: bool = False) -> Any:
    row = (await tx.execute(_LOCKED if lock else _BY_ID, {"rx": rx})).first()
    if row is None:
        raise NotFound("no such prescription")
    return row


def own(row: Any, who: Prescriber) -> None:
    if row.prescriber_id != who.id:
        raise Forbidden("only the prescriber who wrote this prescription may sign or cancel it")


def issuable(row: Any, who: Prescriber, now: datetime) -> None:
    own(row, who)
    if row.status != "draft":
        raise Conflict(f"the prescription is already {row.status}; only a draft can be issued")
    if row.valid_until <= now:
        raise Conflict("the draft's validity has passed; write a new one")


def cancellable(row: Any, who: Prescriber, now: datetime) -> None:
    own(row, who)
    problem = refusal(row, now)
    if problem is not None:
        raise problem


async def cancel(tx: Transaction, rx: UUID, who: Prescriber, reason: str, verification: dict[str, Any],
                 signature: bytes, now: datetime) -> None:
    row = await load(tx, rx, lock=True)
    cancellable(row, who, now)
    changed = await tx.execute(update(prescriptions).where(
        prescriptions.c.id == rx, prescriptions.c.status.in_(ACTIVE), prescriptions.c.valid_until > now,
    ).values(status="cancelled", cancel_reason=reason, cancel_signature=signature,
             cancel_verification=verification))
    if changed.rowcount != 1:
        raise Conflict("the prescription changed meanwhile; read it again")
    await record(tx, rx, "cancelled", by=who.id, at=now, reason=reason)
    await tx.publish(PrescriptionCancelled(prescription_id=rx, number=row.number, reason=reason, by=who.id,
                                           patient=row.patient_pinfl, facility=row.facility))
