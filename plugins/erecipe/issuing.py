"""Issuing a draft in one unit of work, and what every issue writes after the prescription row.

One transaction (``ctx.transact``): the draft is locked (a prescription, then its lines: the
documented lock order), checked, the signature verified, the state moved by a conditional update
on ``status = 'draft'``, and the answer built from what is in hand (``views.just_issued``), not
read back. Verifying inside holds the row lock for the ~2 ms the CMS check takes; a re-run of the
unit (after a deadlock) reuses the verdict (``signing.verifier``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, update

from core.errors import Conflict, ValidationFailed
from core.events import PrescriptionIssued
from plugins.erecipe.card_diagnoses import check as check_on_card
from plugins.erecipe.lifecycle import record
from plugins.erecipe.prescribing import Prescriber, issuable, load
from plugins.erecipe.tables import lines, prescriptions
from ports.storage import Transaction, prepared

Verify = Callable[[bytes], Awaitable[dict[str, Any]]]  # the signature's verdict over these bytes; 422
_C = prescriptions.c
_ISSUE = prepared(update(prescriptions).where(_C.id == bindparam("rx"), _C.status == "draft").values(
    status="issued", signature=bindparam("sig", type_=_C.signature.type),
    verification=bindparam("verdict", type_=_C.verification.type),
    issued_at=bindparam("at", type_=_C.issued_at.type)))
_LINES = prepared(lines.insert())  # one line (the usual case) runs prepared; several, as executemany
_EVENT_LINE = ("line", "inn", "form", "strength", "dose", "frequency", "route", "duration_days", "quantity")


def issued_detail(verification: dict[str, Any]) -> dict[str, Any]:
    """What the history keeps of the signature that issued a prescription."""
    return {"signer_pinfl": verification.get("signer_pinfl"),
            "certificate_serial": verification.get("certificate_serial")}


async def issue(tx: Transaction, rx: UUID, who: Prescriber, now: datetime, *, signature: bytes,
                verify: Verify, sent: bytes | None = None) -> tuple[Any, dict[str, Any], str]:
    """Issue the draft: locked, checked (403/409 before the signature costs anything), ``sent`` (the
    bytes the client says it signed) compared, the signature verified, then the conditional update.
    Returns the row as locked, the verdict and what the card says of the diagnosis."""
    row = await load(tx, rx, lock=True)
    issuable(row, who, now)
    if sent is not None and sent != row.canonical:
        detail = ("the signed content differs from the draft: it was changed after drafting; sign the "
                  "draft's canonical bytes")
        raise ValidationFailed(detail, errors=[{"field": "content", "message": "changed after signing"}])
    verification = await verify(row.canonical)
    on_card = await check_on_card(tx, row.patient_pinfl, row.diagnosis)  # the card may have changed
    changed = await tx.execute(_ISSUE, {"rx": rx, "sig": signature, "verdict": verification, "at": now})
    if changed.rowcount != 1:
        raise Conflict("the prescription changed meanwhile; read it again")
    await issued(tx, row._mapping, who, verification, now)
    return row, verification, on_card


async def issued(tx: Transaction, row: Mapping[str, Any], who: Prescriber, verification: dict[str, Any],
                 now: datetime) -> None:
    """What follows the prescription row becoming ``issued``: its lines, the history step, the event."""
    repeats = row["content"]["dispensing"]["repeats"]
    rows = [{"prescription_id": row["id"], "line": ln["line"], "inn": ln["inn"], "quantity": ln["quantity"],
             "remaining": ln["quantity"] * repeats,
             "medicine_id": UUID(ln["medicine"]["id"]) if ln.get("medicine") else None}
            for ln in row["content"]["lines"]]
    await tx.execute(_LINES, rows[0] if len(rows) == 1 else rows)
    await record(tx, row["id"], "issued", by=who.id, at=now, detail=issued_detail(verification))
    await tx.publish(PrescriptionIssued(
        prescription_id=row["id"], number=row["number"], category=row["category"],
        diagnosis=row["diagnosis"], prescriber=who.id, valid_until=row["valid_until"],
        patient=row["patient_pinfl"], facility=row["facility"],
        lines=[{k: ln[k] for k in _EVENT_LINE} for ln in row["content"]["lines"]]))
