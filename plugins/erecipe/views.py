"""Reading prescriptions: the clinician's full view and the pharmacist's narrow one."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select

from core.errors import NotFound, ValidationFailed
from plugins.erecipe.card_diagnoses import on_card
from plugins.erecipe.lifecycle import ACTIVE, effective
from plugins.erecipe.prescribing import QR_PREFIX, load, qr_payload
from plugins.erecipe.schema import ForDispensing, HistoryEntry, LineView, Prescription
from plugins.erecipe.tables import history, lines, prescriptions
from ports.storage import Transaction


async def line_views(tx: Transaction, row: Any) -> list[LineView]:
    remaining = {r.line: r.remaining for r in await tx.execute(
        select(lines.c.line, lines.c.remaining).where(lines.c.prescription_id == row.id))}
    out = []
    for ln in row.content["lines"]:
        fields = {k: ln.get(k) for k in LineView.__struct_fields__ if k != "remaining"}
        out.append(LineView(**fields, remaining=remaining.get(ln["line"], 0)))
    return out


async def full(tx: Transaction, rx: UUID, now: datetime) -> Prescription:
    row = await load(tx, rx)
    steps = await tx.execute(select(history).where(history.c.prescription_id == rx)
                             .order_by(history.c.at, history.c.id))
    return Prescription(
        id=row.id, number=row.number, qr=qr_payload(row.number),
        status=effective(row.status, row.valid_until, now), patient_pinfl=row.patient_pinfl,
        category=row.category, diagnosis=row.diagnosis, facility=row.facility,
        prescriber_id=row.prescriber_id, valid_until=row.valid_until, issued_at=row.issued_at,
        content=row.content, verification=row.verification, cancel_reason=row.cancel_reason,
        lines=await line_views(tx, row),
        history=[HistoryEntry(at=h.at, status=h.status, by=h.by, reason=h.reason, detail=h.detail)
                 for h in steps],
        diagnosis_on_card=await on_card(tx, row.patient_pinfl, row.diagnosis), source=row.source,
        paper_number=row.paper_number)


def just_issued(row: Mapping[str, Any], *, verification: dict[str, Any], on_card: str, now: datetime,
                history: list[HistoryEntry]) -> Prescription:
    """The clinician's view of a prescription this unit of work has just issued, from what is in hand
    (no read back): every line still has its full ``quantity x repeats`` to dispense. Issued now,
    unless the row says otherwise (a paper prescription: when it was written)."""
    repeats = row["content"]["dispensing"]["repeats"]
    fields = [k for k in LineView.__struct_fields__ if k != "remaining"]
    return Prescription(
        id=row["id"], number=row["number"], qr=qr_payload(row["number"]), status="issued",
        patient_pinfl=row["patient_pinfl"], category=row["category"], diagnosis=row["diagnosis"],
        facility=row["facility"], prescriber_id=row["prescriber_id"], valid_until=row["valid_until"],
        issued_at=row["issued_at"] or now, content=row["content"], verification=verification,
        cancel_reason=None, history=history, diagnosis_on_card=on_card, source=row["source"],
        paper_number=row["paper_number"],
        lines=[LineView(**{k: ln.get(k) for k in fields}, remaining=ln["quantity"] * repeats)
               for ln in row["content"]["lines"]])


def step(at: datetime, status: str, by: UUID | None, detail: dict[str, Any] | None = None) -> HistoryEntry:
    return HistoryEntry(at=at, status=status, by=by, reason=None, detail=detail)


async def of_patient(tx: Transaction, pinfl: str, now: datetime) -> list[Prescription]:
    ids = [r.id for r in await tx.execute(select(prescriptions.c.id).where(
        prescriptions.c.patient_pinfl == pinfl, prescriptions.c.status != "draft")
        .order_by(prescriptions.c.created_at.desc()).limit(200))]
    return [await full(tx, rx, now) for rx in ids]


def for_dispensing(row: Any, line_list: list[LineView], now: datetime) -> ForDispensing:
    return ForDispensing(
        number=row.number, qr=qr_payload(row.number), status=effective(row.status, row.valid_until, now),
        patient_pinfl=row.patient_pinfl, patient_name=row.content.get("patient_name"),
        category=row.category, partial_allowed=bool(row.partial),
        valid_until=row.valid_until, prescriber=row.content["prescriber"]["name"], facility=row.facility,
        lines=line_list, source=row.source, paper_number=row.paper_number)


def number_of(qr: str) -> str:
    if not qr.startswith(QR_PREFIX) or not 0 < len(qr) - len(QR_PREFIX) <= 32:
        raise ValidationFailed("not a Shifo prescription QR payload", errors=[{"field": "qr",
                                                                               "message": "unknown format"}])
    return qr[len(QR_PREFIX):]


async def find(tx: Transaction, now: datetime, *, number: str | None = None, qr: str | None = None,
               pinfl: str | None = None) -> list[ForDispensing]:
    """By number or QR payload (any issued state, so the pharmacist sees why it is refused), or the
    patient's active prescriptions by PINFL. Drafts are never shown."""
    given = [x for x in (number, qr, pinfl) if x is not None]
    if len(given) != 1:
        raise ValidationFailed("give exactly one of number, qr or pinfl")
    stmt = select(prescriptions).where(prescriptions.c.status != "draft")
    if pinfl is not None:
        stmt = stmt.where(prescriptions.c.patient_pinfl == pinfl, prescriptions.c.status.in_(ACTIVE),
                          prescriptions.c.valid_until > now).order_by(prescriptions.c.valid_until)
    else:
        stmt = stmt.where(prescriptions.c.number == (number if number is not None else number_of(qr or "")))
    rows = (await tx.execute(stmt.limit(100))).all()
    if not rows and pinfl is None:
        raise NotFound("no prescription with this number")
    return [for_dispensing(row, await line_views(tx, row), now) for row in rows]
