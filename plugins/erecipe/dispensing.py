"""Dispensing: a pharmacist hands out (part of) a prescription, signed, never more than prescribed.

Concurrency: the prescription row is updated first under its state condition (on PostgreSQL the
row lock makes concurrent dispenses of one prescription wait for each other), then each line's
``remaining`` is decremented only ``WHERE remaining >= :quantity``; a zero row count rolls the
whole dispense back with 409. The sum dispensed can never exceed the quantity prescribed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import func, select, update

from core.canonical import canonical_json
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import PrescriptionDispensed
from core.ids import new_id
from plugins.erecipe.lifecycle import ACTIVE, record, refusal
from plugins.erecipe.schema import Dispensed, DispenseItem
from plugins.erecipe.tables import dispenses, lines, prescriptions
from plugins.erecipe.views import line_views
from ports.storage import Transaction


def content(number: str, items: list[DispenseItem]) -> bytes:
    """What the pharmacist signs."""
    return canonical_json({"action": "dispense", "number": number, "items": msgspec.to_builtins(items)})


def _fail(detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": "items", "message": detail}])


async def dispense(tx: Transaction, number: str, items: list[DispenseItem], *, by: UUID, facility: str,
                   canonical: bytes, signature: bytes, verification: dict[str, Any],
                   now: datetime) -> Dispensed:
    row = (await tx.execute(select(prescriptions).where(prescriptions.c.number == number))).first()
    if row is None or row.status == "draft":
        raise NotFound("no prescription with this number")
    problem = refusal(row, now)
    if problem is not None:
        raise problem
    prescribed = {ln["line"]: ln for ln in row.content["lines"]}
    seen: set[int] = set()
    for item in items:
        ln = prescribed.get(item.line)
        if ln is None or item.line in seen:
            raise _fail(f"line {item.line} is not on the prescription, or is given twice")
        seen.add(item.line)
        if not row.partial and item.quantity != ln["quantity"]:
            raise _fail(f"the {row.category} category allows no partial dispensing: line {item.line} "
                        f"is dispensed {ln['quantity']} at a time")
        if item.expiry <= now.date():
            raise _fail(f"line {item.line}: the medicine's expiry date has passed")
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
    did = new_id()
    plain = msgspec.to_builtins(items)
    await tx.execute(dispenses.insert().values(
        id=did, prescription_id=row.id, facility=facility, pharmacist_id=by, items=plain, canonical=canonical,
        signature=signature, verification=verification, dispensed_at=now))
    await record(tx, row.id, status, by=by, at=now, detail={"dispense_id": str(did), "items": plain})
    after = await line_views(tx, row)
    remaining = {v.line: v.remaining for v in after}
    await tx.publish(PrescriptionDispensed(
        prescription_id=row.id, number=number, dispense_id=did, status=status, by=by,
        patient=row.patient_pinfl, facility=facility,
        items=[{"line": i.line, "inn": prescribed[i.line]["inn"], "medicine": i.medicine,
                "quantity": i.quantity, "remaining": remaining[i.line]} for i in items]))
    return Dispensed(id=did, number=number, status=status, lines=after)
