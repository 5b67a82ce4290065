"""The polyclinic module's part of the patient's own record, for the patient app (DMED): my
outpatient visits and each visit's outpatient card.

A visit id in a path is looked up together with the caller's PINFL (``ctx.patient``): another
patient's visit answers 404, exactly like an unknown one (:func:`ports.encounter_card.own`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import get
from litestar.params import FromPath

from host.pluginapi import Ctx, own_record
from plugins.polyclinic import card
from plugins.polyclinic.schema import OutpatientCard
from plugins.polyclinic.tables import ENCOUNTERS
from ports import encounter_card

LIMIT = 500


class MyVisit(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    facility: str
    doctor: UUID
    status: str  # open | closed
    opened_at: datetime
    closed_at: datetime | None = None
    final_diagnosis: str | None = None


@get("/visits", opt=own_record("polyclinic.visit"), summary="My outpatient visits")
async def my_visits(ctx: Ctx) -> list[MyVisit]:
    """Newest first."""
    async with ctx.storage.transaction() as tx:
        rows = await encounter_card.mine(ENCOUNTERS, tx, ctx.patient, LIMIT)
        found = [MyVisit(id=r.id, facility=r.facility, doctor=r.doctor, status=r.status,
                         opened_at=r.opened_at, closed_at=r.closed_at, final_diagnosis=r.final_diagnosis)
                 for r in rows]
        await ctx.audit(tx, "polyclinic.visit/read", patient=ctx.patient,
                        detail=f"patient app: {len(found)} visits")
        return found


@get("/visits/{visit_id:uuid}/card", opt=own_record("polyclinic.visit"),
     summary="The outpatient card of my visit")
async def my_visit_card(ctx: Ctx, visit_id: FromPath[UUID]) -> OutpatientCard:
    """The outpatient card of one of the caller's own visits (404 for anyone else's); audited."""
    async with ctx.storage.transaction() as tx:
        row = await encounter_card.own(ENCOUNTERS, tx, ctx.patient, visit_id)
        found = await card.assemble(tx, row.facility, visit_id)
        await ctx.audit(tx, "polyclinic.visit/read", patient=ctx.patient, object=str(visit_id),
                        detail="patient app: outpatient card")
        return found


HANDLERS: list[Any] = [my_visits, my_visit_card]
