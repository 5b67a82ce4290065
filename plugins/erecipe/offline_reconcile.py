"""Reconciling checked journal entries against the prescriptions, in ``dispensed_at`` order.

An entry the prescription allows is recorded as a dispense (``source = 'offline'``, its own
``dispensed_at``; its id is the entry's, so a re-sent entry is never applied twice). One the state
does not allow — the quantity no longer remains (another pharmacy dispensed it first), the
prescription was cancelled, it had expired at ``dispensed_at``, a paper prescription was not yet
written then, the marked pack was already sold —
is kept as a conflict record (``erecipe_dispense_conflicts``), never applied and never dropped.
Entries that cannot be matched at all (no such prescription or line) are refused.

Locks as in online dispensing: the prescription row (a no-op UPDATE), then its line's
``remaining`` decremented under ``remaining >= quantity``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import func, select, update

from core.errors import Conflict, ValidationFailed
from core.events import PrescriptionDispensed
from core.ids import new_id
from plugins.erecipe.lifecycle import record
from plugins.erecipe.offline_journal import SKEW, Checked, Outcome
from plugins.erecipe.packs import handed_out
from plugins.erecipe.schema import DispenseItem
from plugins.erecipe.tables import dispense_conflicts, dispense_items, dispenses, lines, prescriptions
from ports.storage import Transaction

Audit = Callable[..., Awaitable[None]]
_C = dispense_conflicts.c


async def recorded(tx: Transaction, ids: list[UUID]) -> dict[UUID, Outcome]:
    """The outcome already recorded for any of these entry ids (an upload sent again)."""
    done = {r.id: Outcome(entry_id=str(r.id), outcome="accepted", reason="recorded by an earlier upload")
            for r in await tx.execute(select(dispenses.c.id).where(dispenses.c.id.in_(ids)))}
    for r in await tx.execute(select(_C.id, _C.entry_id, _C.reason).where(_C.entry_id.in_(ids))):
        done[r.entry_id] = Outcome(entry_id=str(r.entry_id), outcome="conflict", reason=r.reason,
                                   conflict_id=r.id)
    return done


def _conflict_of(row: Any, c: Checked, left: int) -> tuple[str, str] | None:
    if row.status == "cancelled":
        return "cancelled", f"the prescription was cancelled by the prescriber: {row.cancel_reason}"
    if c.at >= row.valid_until:
        return "expired", f"the prescription had expired at {row.valid_until.isoformat()}"
    if row.source == "paper" and c.at < row.issued_at - SKEW:  # issued as of when it was written
        return "before_issue", f"dispensed before the prescription was issued ({row.issued_at.isoformat()})"
    if left < c.entry.quantity:
        return "overdraw", f"line {c.entry.line}: only {left} remained to be dispensed"
    return None


async def reconcile(tx: Transaction, c: Checked, *, by: UUID, now: datetime, audit: Audit) -> Outcome:
    e = c.entry
    out = Outcome(entry_id=e.entry_id, outcome="refused")
    row = (await tx.execute(select(prescriptions).where(prescriptions.c.number == e.number))).first()
    if row is None or row.status == "draft":
        out.reason = "no prescription with this number"
        return out
    line = next((ln for ln in row.content["lines"] if ln["line"] == e.line), None)
    if line is None:
        out.reason = f"line {e.line} is not on the prescription"
        return out
    try:  # the product handed out is the line's, as online: same INN, form, strength; not expired then
        await handed_out(tx, DispenseItem(line=e.line, quantity=e.quantity, medicine=e.gtin or e.medicine,
                                          batch=e.batch or "-", expiry=e.expiry), 1, line, c.at.date())
    except ValidationFailed as exc:
        out.reason = exc.detail.removeprefix("item 1: ")
        return out
    if not row.partial and e.quantity != line["quantity"]:
        out.reason = f"the {row.category} category allows no partial dispensing: line {e.line} is " \
                     f"dispensed {line['quantity']} at a time"
        return out
    await tx.execute(update(prescriptions).where(prescriptions.c.id == row.id)  # the row lock
                     .values(status=prescriptions.c.status))
    left = (await tx.execute(select(lines.c.remaining).where(
        lines.c.prescription_id == row.id, lines.c.line == e.line))).scalar_one()
    found = _conflict_of(row, c, left)
    if found is None and e.gtin and e.serial and (await tx.execute(select(dispense_items.c.dispense_id).where(
            dispense_items.c.gtin == e.gtin, dispense_items.c.serial == e.serial))).first() is not None:
        found = "pack_sold", f"the pack {e.gtin}/{e.serial} was already dispensed"
    if found is not None:
        return await _conflict(tx, row, c, found, by=by, now=now, audit=audit)
    taken = await tx.execute(update(lines).where(  # under the row lock: the condition is a safeguard
        lines.c.prescription_id == row.id, lines.c.line == e.line, lines.c.remaining >= e.quantity,
    ).values(remaining=lines.c.remaining - e.quantity))
    if taken.rowcount != 1:
        raise Conflict("the prescription changed meanwhile; upload the journal again")
    total = (await tx.execute(select(func.sum(lines.c.remaining)).where(
        lines.c.prescription_id == row.id))).scalar_one()
    status = "dispensed" if total == 0 else ("partially_dispensed" if row.status == "issued" else row.status)
    item = {k: v for k, v in msgspec.to_builtins(e).items()
            if k in ("line", "quantity", "medicine", "batch", "expiry", "gtin", "serial")}
    await tx.execute(update(prescriptions).where(prescriptions.c.id == row.id).values(status=status))
    await tx.execute(dispenses.insert().values(
        id=c.id, prescription_id=row.id, facility=e.facility, pharmacist_id=by, items=[item],
        canonical=c.canonical, signature=c.signature, verification=c.verification, dispensed_at=c.at,
        source="offline", recorded_at=now))
    await tx.execute(dispense_items.insert().values(
        dispense_id=c.id, item=1, line=e.line, quantity=e.quantity, gtin=e.gtin, batch=e.batch,
        serial=e.serial, expiry=e.expiry))
    await record(tx, row.id, status, by=by, at=c.at,
                 detail={"dispense_id": e.entry_id, "items": [item], "source": "offline",
                         "recorded_at": now.isoformat()})
    await tx.publish(PrescriptionDispensed(
        prescription_id=row.id, number=row.number, dispense_id=c.id, status=status, by=by,
        patient=row.patient_pinfl, facility=e.facility,
        items=[{"line": e.line, "inn": line["inn"], "medicine": e.medicine, "quantity": e.quantity,
                "remaining": left - e.quantity, "source": "offline", "dispensed_at": e.dispensed_at}]))
    await audit(tx, "erecipe.dispensing/dispense", patient=row.patient_pinfl, object=row.number,
                detail=f"offline journal entry {e.entry_id}")
    out.outcome, out.status = "accepted", status
    return out


async def _conflict(tx: Transaction, row: Any, c: Checked, found: tuple[str, str], *, by: UUID,
                    now: datetime, audit: Audit) -> Outcome:
    kind, reason = found
    cid = new_id()
    e = c.entry
    await tx.execute(dispense_conflicts.insert().values(
        id=cid, entry_id=c.id, prescription_id=row.id, number=row.number, facility=e.facility,
        pharmacist_id=by, line=e.line, quantity=e.quantity, dispensed_at=c.at, kind=kind, reason=reason,
        entry=msgspec.to_builtins(e), signature=c.signature, verification=c.verification,
        recorded_at=now, status="open"))
    await audit(tx, "erecipe.dispensing/conflict", patient=row.patient_pinfl, object=row.number,
                outcome="conflict", detail=f"offline journal entry {e.entry_id}: {kind}")
    return Outcome(entry_id=e.entry_id, outcome="conflict", reason=reason, conflict_id=cid)
