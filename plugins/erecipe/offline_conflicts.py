"""Conflicts of offline dispenses (``erecipe_dispense_conflicts``): the pharmacy lists and resolves
its own. (Not the operator: module routes are for clinical staff, and an operator account has no
clinical access; a conflict names a prescription.)

A conflict is a dispense that happened but that the prescription's state no longer allowed when
its journal was uploaded. Resolving records what was done (a pack returned, the prescriber asked
for a new prescription); it changes no prescription and is a conditional update on ``open``.
The views carry the prescription number, not the patient.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy import select, update

from core.clock import utcnow
from core.errors import Conflict, NotFound
from host.pluginapi import Context, Ctx, requires
from plugins.erecipe.tables import dispense_conflicts
from ports.storage import Transaction

PHARMACY = requires("erecipe.dispensing", "resolve")
Status = Annotated[Literal["open", "resolved"] | None, QueryParameter(name="status")]
_C = dispense_conflicts.c


class ConflictView(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    entry_id: UUID
    number: str
    facility: str
    pharmacist_id: UUID
    line: int
    quantity: int
    dispensed_at: datetime
    kind: str  # overdraw | cancelled | expired | before_issue | pack_sold
    reason: str
    recorded_at: datetime
    status: str  # open | resolved
    resolved_at: datetime | None = None
    resolved_by: UUID | None = None
    resolution: str | None = None


class ResolveIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    resolution: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]  # what was done about it


def _view(r: Any) -> ConflictView:
    return ConflictView(**{f: getattr(r, f) for f in ConflictView.__struct_fields__})


async def listed(ctx: Context, facility: str, status: str | None) -> list[ConflictView]:
    """Oldest first, at most 500."""
    query = select(dispense_conflicts).where(_C.facility == facility)
    if status is not None:
        query = query.where(_C.status == status)
    async with ctx.storage.transaction(readonly=True) as tx:
        return [_view(r) for r in await tx.execute(query.order_by(_C.recorded_at, _C.id).limit(500))]


async def resolve(ctx: Context, cid: UUID, resolution: str, facility: str) -> ConflictView:
    """Mark ``cid`` (of ``facility``) resolved; 409 when it already was."""
    now, by = utcnow(), ctx.caller_id

    async def work(tx: Transaction) -> ConflictView:
        if (await tx.execute(select(_C.id).where(_C.id == cid, _C.facility == facility))).first() is None:
            raise NotFound("no such conflict at this facility")
        changed = await tx.execute(update(dispense_conflicts).where(_C.id == cid, _C.status == "open")
                                   .values(status="resolved", resolved_at=now, resolved_by=by,
                                           resolution=resolution))
        if changed.rowcount != 1:
            raise Conflict("the conflict is already resolved")
        await ctx.audit(tx, "erecipe.conflicts/resolve", object=str(cid), detail=resolution)
        return _view((await tx.execute(select(dispense_conflicts).where(_C.id == cid))).one())
    return await ctx.transact(work)


class PharmacyConflicts(Controller):
    path = "/dispense-conflicts"

    @get("/", opt=PHARMACY)
    async def of_pharmacy(self, ctx: Ctx, status: Status = "open") -> list[ConflictView]:
        """The conflicts of this facility's offline dispenses."""
        return await listed(ctx, ctx.facility_id, status)

    @post("/{cid:uuid}/resolve", opt=PHARMACY, status_code=200)
    async def resolve_here(self, ctx: Ctx, cid: FromPath[UUID], data: JSONBody[ResolveIn]) -> ConflictView:
        """Say what was done about one of this facility's conflicts."""
        return await resolve(ctx, cid, data.resolution, ctx.facility_id)

