"""The erecipe module's part of the patient's own record, for the patient app (DMED): my
prescriptions, whether each is still valid, what was dispensed at which pharmacy and when, and
what remains to be dispensed.

Drafts (never signed) are not shown. A prescription id in a path is looked up together with the
caller's PINFL (``ctx.patient``): another patient's prescription answers 404, like an unknown one.
This is the patient's own record, so the pharmacist's minimisation does not apply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import get
from litestar.params import FromPath
from sqlalchemy import select

from core.clock import utcnow
from core.errors import NotFound
from host.pluginapi import Ctx, own_record
from plugins.erecipe.lifecycle import ACTIVE, effective
from plugins.erecipe.prescribing import qr_payload
from plugins.erecipe.schema import LineView
from plugins.erecipe.tables import dispenses, prescriptions
from plugins.erecipe.views import line_views
from ports.storage import Transaction

LIMIT = 200


class MyDispense(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    pharmacy: str  # the dispensing facility
    items: list[dict[str, Any]]  # line, medicine, quantity, batch, expiry


class MyPrescription(msgspec.Struct, frozen=True, kw_only=True):
    """``valid`` says whether a pharmacy may still dispense it now; ``lines[].remaining`` is what is
    left to dispense of each line; ``dispenses`` are oldest first."""

    id: UUID
    number: str
    qr: str
    status: str  # issued | partially_dispensed | dispensed | cancelled | expired
    valid: bool
    category: str
    diagnosis: str
    facility: str  # where it was prescribed
    prescriber: str
    issued_at: datetime | None
    valid_until: datetime
    lines: list[LineView]
    dispenses: list[MyDispense]
    cancel_reason: str | None = None
    source: str = "online"  # online | paper: written on a paper form, registered afterwards
    paper_number: str | None = None


async def _view(tx: Transaction, row: Any, now: datetime) -> MyPrescription:
    given = await tx.execute(select(dispenses).where(dispenses.c.prescription_id == row.id)
                             .order_by(dispenses.c.dispensed_at, dispenses.c.id))
    status = effective(row.status, row.valid_until, now)
    return MyPrescription(
        id=row.id, number=row.number, qr=qr_payload(row.number), status=status, valid=status in ACTIVE,
        category=row.category, diagnosis=row.diagnosis, facility=row.facility,
        prescriber=row.content["prescriber"]["name"], issued_at=row.issued_at, valid_until=row.valid_until,
        lines=await line_views(tx, row), cancel_reason=row.cancel_reason, source=row.source,
        paper_number=row.paper_number,
        dispenses=[MyDispense(at=d.dispensed_at, pharmacy=d.facility, items=list(d.items)) for d in given])


def _mine(pinfl: str) -> Any:
    c = prescriptions.c
    return select(prescriptions).where(c.patient_pinfl == pinfl, c.status != "draft")


@get("/prescriptions", opt=own_record("erecipe.prescription"), summary="My prescriptions")
async def my_prescriptions(ctx: Ctx) -> list[MyPrescription]:
    """Newest first."""
    now = utcnow()
    async with ctx.storage.transaction() as tx:
        rows = (await tx.execute(_mine(ctx.patient).order_by(prescriptions.c.created_at.desc(),
                                                             prescriptions.c.id).limit(LIMIT))).all()
        found = [await _view(tx, r, now) for r in rows]
        await ctx.audit(tx, "erecipe.prescription/read", patient=ctx.patient,
                        detail=f"patient app: {len(found)} prescriptions")
        return found


@get("/prescriptions/{rx:uuid}", opt=own_record("erecipe.prescription"), summary="One of my prescriptions")
async def my_prescription(ctx: Ctx, rx: FromPath[UUID]) -> MyPrescription:
    """One of the caller's own prescriptions (404 for anyone else's); audited in their access log."""
    async with ctx.storage.transaction() as tx:
        row = (await tx.execute(_mine(ctx.patient).where(prescriptions.c.id == rx))).first()
        if row is None:
            raise NotFound(f"you have no prescription {rx}")
        found = await _view(tx, row, utcnow())
        await ctx.audit(tx, "erecipe.prescription/read", patient=ctx.patient, object=str(rx),
                        detail="patient app")
        return found


HANDLERS: list[Any] = [my_prescriptions, my_prescription]
