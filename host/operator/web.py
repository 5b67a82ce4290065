"""Operator routes under ``/api/v1/operator``: facilities, installation requests, the SLA report
and calendar overrides. Operator accounts only; nothing here reads clinical data. Each change
commits with its audit entry, which carries the request id."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Request, Router, get, post, put
from litestar import delete as delete_route
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from sqlalchemy import delete, select, update

from core import clock
from core.errors import Conflict, NotFound
from host import audit
from host.operator import calendar, config, installations, overrides, sla
from host.operator.review_web import routes as review_routes
from host.operator.tables import calendar_overrides, facility_licences
from host.pluginapi import requires
from host.runtime import Runtime
from host.tables import facilities
from host.web.guard import client_of
from ports.conflicts import run_unit
from ports.storage import Transaction

Req = Request[Any, Any, Any]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


def op(object_: str, action: str) -> dict[str, Any]:
    return requires(f"operator.{object_}", action, principal="operator", facility_scoped=False)


def entry(request: Req, action: str) -> audit.AuditEntry:
    state = request.scope.get("state", {})
    return audit.entry(state.get("principal"), f"operator.{action}", request_id=state.get("request_id"),
                       client=client_of(request))


def who(request: Req) -> str:
    principal = request.scope.get("state", {}).get("principal")
    return principal.login if principal else "?"


def runtime(request: Req) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


class FacilityIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Text
    kind: Annotated[str, msgspec.Meta(pattern=r"^[a-z_]{2,32}$")]  # polyclinic | hospital | pharmacy | ...
    region: Annotated[str, msgspec.Meta(min_length=2, max_length=100)]
    tin: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{9}$")]  # STIR
    licence_number: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    licence_valid_until: date | None = None


class NewFacility(FacilityIn, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Code


class Facility(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    kind: str
    region: str
    tin: str | None
    licence_number: str | None
    licence_valid_until: date | None


async def _facility(tx: Any, fid: str) -> Facility:
    row = (await tx.execute(select(facilities, facility_licences.c.licence_number,
                                   facility_licences.c.licence_valid_until)
                            .outerjoin(facility_licences, facility_licences.c.facility == facilities.c.id)
                            .where(facilities.c.id == fid))).first()
    if row is None:
        raise NotFound(f"no facility {fid}")
    return Facility(**{f: getattr(row, f) for f in Facility.__struct_fields__})


@get("/facilities", opt=op("facility", "read"))
async def list_facilities(request: Req) -> list[Facility]:
    """Every facility (name, kind, region, TIN, licence), by id."""
    async with runtime(request).storage.transaction(readonly=True) as tx:
        ids = (await tx.execute(select(facilities.c.id).order_by(facilities.c.id))).scalars().all()
        return [await _facility(tx, i) for i in ids]


@get("/facilities/{fid:str}", opt=op("facility", "read"))
async def read_facility(request: Req, fid: FromPath[str]) -> Facility:
    """One facility (404 if unknown)."""
    async with runtime(request).storage.transaction(readonly=True) as tx:
        return await _facility(tx, fid)


async def _save(request: Req, fid: str, data: FacilityIn, *, new: bool) -> Facility:
    """Create or update a facility with its licence and audit entry, as one unit re-run whole when
    it loses to a concurrent one: a second create of the same code then reads the first and answers
    409, concurrent updates each apply whole (the last one stays)."""
    now = clock.utcnow()

    async def work(tx: Transaction) -> Facility:
        exists = (await tx.execute(select(facilities.c.id).where(facilities.c.id == fid))).first()
        if new and exists:
            raise Conflict(f"facility {fid} exists")
        if not new and not exists:
            raise NotFound(f"no facility {fid}")
        values = {"name": data.name, "kind": data.kind, "region": data.region, "tin": data.tin}
        licence = {"licence_number": data.licence_number, "licence_valid_until": data.licence_valid_until,
                   "updated_at": now}
        if new:
            await tx.execute(facilities.insert().values(id=fid, created_at=now, **values))
        else:
            await tx.execute(update(facilities).where(facilities.c.id == fid).values(values))
            await tx.execute(delete(facility_licences).where(facility_licences.c.facility == fid))
        await tx.execute(facility_licences.insert().values(facility=fid, **licence))
        await audit.record(tx, msgspec.structs.replace(
            entry(request, "facility/" + ("create" if new else "update")), object=fid, facility=fid))
        return await _facility(tx, fid)

    return await run_unit(runtime(request).storage, work)


@post("/facilities", opt=op("facility", "manage"), status_code=201)
async def create_facility(request: Req, data: JSONBody[NewFacility]) -> Facility:
    """Register a facility (409 if its id is taken); audited."""
    return await _save(request, data.id, data, new=True)


@put("/facilities/{fid:str}", opt=op("facility", "manage"))
async def update_facility(request: Req, fid: FromPath[str], data: JSONBody[FacilityIn]) -> Facility:
    """Change a facility's details and licence (404 if unknown); audited."""
    return await _save(request, fid, data, new=False)


class Application(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    facility: Code
    modules: Annotated[list[Code], msgspec.Meta(min_length=1, max_length=20)]
    applied_on: date


class Transition(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    state: Annotated[str, msgspec.Meta(pattern=r"^(in_progress|installed|rejected|disabled)$")]
    reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None


@post("/installations", opt=op("installation", "manage"), status_code=201)
async def apply(request: Req, data: JSONBody[Application]) -> list[installations.Installation]:
    """A facility applies for modules; each is due 15 working days after ``applied_on``."""
    rt, cfg = runtime(request), config.of(runtime(request).settings)
    return await run_unit(rt.storage, lambda tx: installations.apply(
        tx, facility=data.facility, modules=data.modules, applied_on=data.applied_on,
        known=rt.modules.names, by=who(request), week_days=cfg.week_days,
        due_days=cfg.due_working_days, entry=entry(request, "installation/apply")))


@get("/installations", opt=op("installation", "read"))
async def list_installations(request: Req, facility: FromQuery[str | None] = None,
                             in_state: Annotated[str | None, Parameter(query="state")] = None
                             ) -> list[installations.Installation]:
    """Installation requests, filtered by ``facility`` and ``state``, with their due dates."""
    async with runtime(request).storage.transaction(readonly=True) as tx:
        return await installations.listing(tx, state=in_state, facility=facility)


@post("/installations/{iid:uuid}/transition", opt=op("installation", "manage"), status_code=200)
async def transition(request: Req, iid: FromPath[UUID],
                     data: JSONBody[Transition]) -> installations.Installation:
    """Move a request on; ``installed`` enables the module at once, ``disabled`` (with a reason)
    blocks it at once in this process and within ``module_check_seconds`` in the others; the data
    stays."""
    rt = runtime(request)
    try:
        return await run_unit(rt.storage, lambda tx: installations.move(
            tx, iid, data.state, reason=data.reason, by=who(request),
            entry=entry(request, f"installation/{data.state}")))
    finally:
        rt.installations_changed()


@get("/installations/{iid:uuid}/history", opt=op("installation", "read"))
async def installation_history(request: Req, iid: FromPath[UUID]) -> list[installations.Change]:
    """Every state change of one installation request, oldest first."""
    async with runtime(request).storage.transaction(readonly=True) as tx:
        return await installations.history(tx, iid)


@get("/sla", opt=op("installation", "read"))
async def sla_report(request: Req, period_from: FromQuery[date | None] = None,
                     period_to: FromQuery[date | None] = None,
                     region: FromQuery[str | None] = None) -> sla.SlaReport:
    """Installations against the 15-working-day promise, per region, and those overdue today."""
    rt, cfg = runtime(request), config.of(runtime(request).settings)
    async with rt.storage.transaction(readonly=True) as tx:
        cal = await calendar.load(tx, cfg.week_days)
        return await sla.report(tx, cal, clock.utcnow().date(), soon=cfg.due_soon_working_days,
                                period_from=period_from, period_to=period_to, region=region)


class Override(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    day: date
    working: bool
    reason: Text


@get("/calendar/overrides", opt=op("calendar", "read"))
async def list_overrides(request: Req) -> list[Override]:
    """The days declared after the package's calendar (days off, working days), by date."""
    async with runtime(request).storage.transaction(readonly=True) as tx:
        rows = await tx.execute(select(calendar_overrides).order_by(calendar_overrides.c.day))
        return [Override(day=r.day, working=r.working, reason=r.reason) for r in rows]


@put("/calendar/overrides", opt=op("calendar", "manage"))
async def set_override(request: Req, data: JSONBody[Override]) -> Override:
    """Declare a day announced after the package's calendar: a day off or a working day.
    Due dates already computed stay as promised; new applications use the override."""
    await overrides.set_day(runtime(request).storage, data.day, data.working, data.reason, by=who(request),
                            audited=entry(request, "calendar/override"))
    return data


@delete_route("/calendar/overrides/{day:date}", opt=op("calendar", "manage"), status_code=204)
async def remove_override(request: Req, day: FromPath[date]) -> None:
    """Withdraw an override day: the package's calendar applies to it again (409 when there is
    none, or it changed meanwhile)."""
    await overrides.remove_day(runtime(request).storage, day,
                               audited=entry(request, "calendar/override-remove"))


router = Router(path="/api/v1/operator", tags=["operator"], route_handlers=[
    list_facilities, read_facility, create_facility, update_facility, apply, list_installations,
    transition, installation_history, sla_report, list_overrides, set_override, remove_override,
    *review_routes])
