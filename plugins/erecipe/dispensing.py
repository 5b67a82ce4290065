"""Dispensing: a pharmacist hands out (part of) a prescription, signed, never more than prescribed.

Concurrency: the prescription row is updated first under its state condition (on PostgreSQL the
row lock makes concurrent dispenses of one prescription wait for each other), then each line's
``remaining`` is decremented only ``WHERE remaining >= :quantity``; a zero row count rolls the
whole dispense back with 409. The sum dispensed can never exceed the quantity prescribed.

Replays: each signed dispense is used once. Its id is the ``dispense_id`` named in the signed
content (or one derived from the signature itself), stored as the dispense's primary key: the
same signed dispense sent again is a 409 and dispenses nothing, even when both arrive at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from core.canonical import canonical_json
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import PrescriptionDispensed
from core.ids import new_id
from plugins.erecipe.lifecycle import ACTIVE, record, refusal
from plugins.erecipe.packs import Pack, handed_out
from plugins.erecipe.schema import Dispensed, DispenseItem
from plugins.erecipe.tables import dispense_items, dispenses, lines, prescriptions
from plugins.erecipe.views import line_views
from ports.storage import Transaction

Audit = Callable[..., Awaitable[None]]


def content(number: str, items: list[DispenseItem], dispense_id: UUID | None = None) -> bytes:
    """What the pharmacist signs (``dispense_id`` included when the client names one)."""
    signed: dict[str, Any] = {"action": "dispense", "number": number, "items": msgspec.to_builtins(items)}
    if dispense_id is not None:
        signed["dispense_id"] = str(dispense_id)
    return canonical_json(signed)


def _replayed(did: UUID) -> Conflict:
    return Conflict(f"this signed dispense ({did}) was already used: a signature dispenses once; "
                    "sign a new dispense with a new dispense_id")


def _fail(detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": "items", "message": detail}])


def _sold(packs: list[Pack]) -> Conflict:
    marked = ", ".join(f"GTIN {p.gtin} serial {p.serial}" for p in packs if p.serial)
    return Conflict(f"a marked pack ({marked}) was already dispensed: a marked pack is sold once")


async def _unsold(tx: Transaction, packs: list[Pack]) -> None:
    """409 when a marked pack was already dispensed anywhere (the unique index decides in a race)."""
    marked = [and_(dispense_items.c.gtin == p.gtin, dispense_items.c.serial == p.serial)
              for p in packs if p.serial]
    if marked and (found := (await tx.execute(select(dispense_items.c.gtin, dispense_items.c.serial)
                                               .where(or_(*marked)).limit(1))).first()) is not None:
        raise Conflict(f"the marked pack GTIN {found.gtin} serial {found.serial} was already dispensed: "
                       "a marked pack is sold once")


async def dispense(tx: Transaction, number: str, items: list[DispenseItem], *, by: UUID, facility: str,
                   canonical: bytes, signature: bytes, verification: dict[str, Any],
                   now: datetime, dispense_id: UUID | None = None, audit: Audit | None = None) -> Dispensed:
    """``dispense_id``: the single-use id of this signed dispense (a new one when not given);
    ``audit`` (``ctx.audit``) records it against the patient, so it shows in their access log."""
    row = (await tx.execute(select(prescriptions).where(prescriptions.c.number == number))).first()
    if row is None or row.status == "draft":
        raise NotFound("no prescription with this number")
    did = dispense_id or new_id()
    if (await tx.execute(select(dispenses.c.id).where(dispenses.c.id == did))).first() is not None:
        raise _replayed(did)
    problem = refusal(row, now)
    if problem is not None:
        raise problem
    prescribed = {ln["line"]: ln for ln in row.content["lines"]}
    seen: set[int] = set()
    packs: list[Pack] = []
    for n, item in enumerate(items, 1):
        ln = prescribed.get(item.line)
        if ln is None or item.line in seen:
            raise _fail(f"line {item.line} is not on the prescription, or is given twice")
        seen.add(item.line)
        if not row.partial and item.quantity != ln["quantity"]:
            raise _fail(f"the {row.category} category allows no partial dispensing: line {item.line} "
                        f"is dispensed {ln['quantity']} at a time")
        packs.append(await handed_out(tx, item, n, ln, now.date()))  # the line's product, not expired
    await _unsold(tx, packs)
    locked = await tx.execute(update(prescriptions).where(  # takes the row lock on PostgreSQL
        prescriptions.c.id == row.id, prescriptions.c.status.in_(ACTIVE), prescriptions.c.valid_until > now,
    ).values(status=prescriptions.c.status))
    if locked.rowcount != 1:
        raise Conflict("the prescription was cancelled, expired or dispensed meanwhile")
    for item in items:
        taken = await tx.execute(update(lines).where(
            lines.c.prescription_id == row.id, lines.c.line == item.line, lines.c.remaining >= item.quantity,
        ).values(remaining=lines.c.remaining - item.quantity))
        if taken.rowcount != 1:
            left = (await tx.execute(select(lines.c.remaining).where(
                lines.c.prescription_id == row.id, lines.c.line == item.line))).scalar_one()
            raise Conflict(f"line {item.line}: only {left} remain to be dispensed")
    left = (await tx.execute(select(func.sum(lines.c.remaining)).where(
        lines.c.prescription_id == row.id))).scalar_one()
    status = "dispensed" if left == 0 else "partially_dispensed"
    await tx.execute(update(prescriptions).where(prescriptions.c.id == row.id).values(status=status))
    plain = [p.stored() for p in packs]
    try:  # a replay racing its original waits on the row lock above, then meets the primary key
        await tx.execute(dispenses.insert().values(
            id=did, prescription_id=row.id, facility=facility, pharmacist_id=by, items=plain,
            canonical=canonical, signature=signature, verification=verification, dispensed_at=now))
    except IntegrityError:
        raise _replayed(did) from None
    try:  # the unique (gtin, serial) index decides between two pharmacies selling one marked pack at once
        await tx.execute(dispense_items.insert(), [
            {"dispense_id": did, "item": n, "line": p.line, "medicine_id": p.product.id,
             "quantity": p.quantity, "gtin": p.gtin, "batch": p.batch, "serial": p.serial, "expiry": p.expiry}
            for n, p in enumerate(packs, 1)])
    except IntegrityError:
        raise _sold(packs) from None
    await record(tx, row.id, status, by=by, at=now, detail={"dispense_id": str(did), "items": plain})
    after = await line_views(tx, row)
    remaining = {v.line: v.remaining for v in after}
    await tx.publish(PrescriptionDispensed(
        prescription_id=row.id, number=number, dispense_id=did, status=status, by=by,
        patient=row.patient_pinfl, facility=facility,
        items=[{"line": p.line, "inn": prescribed[p.line]["inn"], "medicine": p.product.trade_name,
                "quantity": p.quantity, "remaining": remaining[p.line]} for p in packs]))
    if audit is not None:
        await audit(tx, "erecipe.dispensing/dispense", patient=row.patient_pinfl, object=number)
    return Dispensed(id=did, number=number, status=status, lines=after)
