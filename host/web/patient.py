"""The host's part of the patient app API (``/api/v1/patient``): who accessed my record.

The list comes from the audit trail (entries whose ``patient`` is the caller's PINFL), newest
first, keyset-paginated on the trail's immutable (time, chain, seq). Names come from the identity
accounts and facility names from the host's facility table. The patient's own reads through the
app are left out by default (they are not "someone accessing my record"); ``own=true`` adds them,
each marked ``own``.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, get
from litestar.params import FromQuery, Parameter
from sqlalchemy import and_, or_, select

from core.errors import NotFound, ValidationFailed
from host.audit import CHAINS, audit_log
from host.pluginapi import Ctx, own_record
from host.runtime import Runtime
from host.tables import facilities
from host.web import patient_stream
from ports.storage import Transaction


class Access(msgspec.Struct, frozen=True, kw_only=True):
    at: datetime
    who: str | None  # the person's full name (None: the system, e.g. a background job)
    role: str | None  # the role they acted in (doctor, nurse, ...)
    facility: str | None  # the facility's code
    facility_name: str | None
    action: str  # "<module>.<object>/<verb>", e.g. "medcard.card/read"
    outcome: str  # ok, or why it was refused
    own: bool  # your own access through the app


class AccessPage(msgspec.Struct, frozen=True):
    items: list[Access]
    next: str | None  # pass back as ``after`` for the next page


def _cursor(at: datetime, chain: int, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{chain}|{seq}".encode()).decode()


def _uncursor(cursor: str) -> tuple[datetime, int, int]:
    try:
        at, chain, seq = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("naive")
        if not (0 <= int(chain) < CHAINS and 0 <= int(seq) < 2**63):  # else SMALLINT/BIGINT overflow
            raise ValueError("out of range")
        return when, int(chain), int(seq)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("the page cursor is not valid; start again without it") from None


async def _names(runtime: Runtime, tx: Transaction, actors: set[str]) -> dict[str, str]:
    found = {}
    for actor in actors:
        try:
            found[actor] = (await runtime.identity.account(UUID(actor), tx=tx)).full_name
        except (NotFound, ValueError):
            continue
    return found


async def _page(tx: Transaction, pinfl: str, me: str, *, own: bool, after: str | None,
                limit: int) -> list[Any]:
    c = audit_log.c
    stmt = select(audit_log).where(c.patient == pinfl)
    if not own:
        stmt = stmt.where(or_(c.actor.is_(None), c.actor != me))
    if after:
        at, chain, seq = _uncursor(after)
        stmt = stmt.where(or_(c.at < at, and_(c.at == at, or_(c.chain < chain, and_(c.chain == chain,
                                                                                      c.seq < seq)))))
    return list((await tx.execute(stmt.order_by(c.at.desc(), c.chain.desc(), c.seq.desc()).limit(limit + 1)))
                .all())


@get("/access-log", opt=own_record("patient.access_log"), summary="Who accessed my record")
async def access_log(ctx: Ctx, request: Request[Any, Any, Any], own: FromQuery[bool] = False,
                     after: Annotated[str | None, Parameter(max_length=200)] = None,
                     limit: Annotated[int, Parameter(ge=1, le=200)] = 50) -> AccessPage:
    """Every recorded access to your record by someone else: who, in which role and facility,
    when and what they did, newest first. ``own=true`` adds your own accesses, marked ``own``."""
    runtime: Runtime = request.app.state.runtime
    assert ctx.principal is not None
    me = str(ctx.principal.id)
    async with ctx.storage.transaction() as tx:
        rows = await _page(tx, ctx.patient, me, own=own, after=after, limit=limit)
        shown = rows[:limit]
        names = await _names(runtime, tx, {r.actor for r in shown if r.actor})
        codes = {r.facility for r in shown if r.facility}
        places = {f.id: f.name for f in await tx.execute(
            select(facilities.c.id, facilities.c.name).where(facilities.c.id.in_(codes)))} if codes else {}
        items = [Access(at=r.at, who=names.get(r.actor or ""), role=r.role if r.actor else None,
                        facility=r.facility, facility_name=places.get(r.facility or ""), action=r.action,
                        outcome=r.outcome, own=r.actor == me) for r in shown]
        nxt = _cursor(shown[-1].at, shown[-1].chain, shown[-1].seq) if len(rows) > limit else None
        await ctx.audit(tx, "patient.access_log/read", patient=ctx.patient, detail=f"{len(items)} entries")
        return AccessPage(items=items, next=nxt)


HANDLERS: list[Any] = [access_log, *patient_stream.HANDLERS]
