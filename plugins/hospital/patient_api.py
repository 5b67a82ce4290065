"""The hospital module's part of the patient's own record, for the patient app (DMED): my hospital
stays and each stay's inpatient card.

A stay id in a path is looked up together with the caller's PINFL (``ctx.patient``): another
patient's stay answers 404, exactly like an unknown one (:func:`ports.encounter_card.own`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import get
from litestar.params import FromPath

from host.pluginapi import Ctx, own_record
from plugins.hospital import card
from plugins.hospital.schema import InpatientCard
from plugins.hospital.tables import ENCOUNTERS
from ports import encounter_card

LIMIT = 500


class MyStay(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    facility: str
    status: str  # admitted | discharged
    emergency: bool
    admission_diagnosis: str
    admitted_at: datetime
    discharged_at: datetime | None = None
    discharge_diagnosis: str | None = None
    outcome: str | None = None


@get("/stays", opt=own_record("hospital.stay"), summary="My hospital stays")
async def my_stays(ctx: Ctx) -> list[MyStay]:
    """Newest first."""
    async with ctx.storage.transaction() as tx:
        rows = await encounter_card.mine(ENCOUNTERS, tx, ctx.patient, LIMIT)
        found = [MyStay(id=r.id, facility=r.facility, status=r.status, emergency=r.emergency,
                        admission_diagnosis=r.admission_diagnosis, admitted_at=r.admitted_at,
                        discharged_at=r.discharged_at, discharge_diagnosis=r.discharge_diagnosis,
                        outcome=r.outcome) for r in rows]
        await ctx.audit(tx, "hospital.stay/read", patient=ctx.patient,
                        detail=f"patient app: {len(found)} stays")
        return found


@get("/stays/{stay_id:uuid}/card", opt=own_record("hospital.stay"), summary="The inpatient card of my stay")
async def my_stay_card(ctx: Ctx, stay_id: FromPath[UUID]) -> InpatientCard:
    """The inpatient card of one of the caller's own stays (404 for anyone else's); audited."""
    async with ctx.storage.transaction() as tx:
        row = await encounter_card.own(ENCOUNTERS, tx, ctx.patient, stay_id)
        found = await card.assemble(tx, row.facility, stay_id)
        await ctx.audit(tx, "hospital.stay/read", patient=ctx.patient, object=str(stay_id),
                        detail="patient app: inpatient card")
        return found


HANDLERS: list[Any] = [my_stays, my_stay_card]
