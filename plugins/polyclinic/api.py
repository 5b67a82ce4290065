"""HTTP routes of the polyclinic module, mounted under /api/v1/polyclinic/. Thin: each opens one
transaction, calls a use case and writes its audit line in that same transaction; a write runs
through ``ctx.transact``, which re-runs it when it loses to a concurrent request."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from host.pluginapi import Ctx, requires
from plugins.polyclinic import INFO, card, patients, referrals, schedule, staff, visits
from plugins.polyclinic.schema import (
    BookIn,
    CloseIn,
    ModuleStatus,
    OutpatientCard,
    Queue,
    Referral,
    ReferralIn,
    ScheduleIn,
    Slot,
    Visit,
    WalkInIn,
)
from ports.storage import Transaction

Id = FromPath[UUID]


def _facility(ctx: Ctx) -> str:
    assert ctx.facility is not None  # facility-scoped routes always have one
    return ctx.facility


def _me(ctx: Ctx) -> UUID:
    assert ctx.user_id is not None
    return ctx.user_id


class ModuleController(Controller):
    path = "/"

    @get("/", opt=requires("polyclinic.module", "read"))
    async def status(self, ctx: Ctx) -> ModuleStatus:
        """The module is installed at the caller's facility and answers."""
        return ModuleStatus(module=INFO.name, title=INFO.title, version=INFO.version, facility=ctx.facility)


class AppointmentController(Controller):
    path = "/"

    @post("/schedules", opt=requires("polyclinic.schedule", "manage"), summary="Add a doctor's slots")
    async def add_schedule(self, ctx: Ctx, data: JSONBody[ScheduleIn]) -> list[Slot]:
        async def work(tx: Transaction) -> list[Slot]:
            await staff.check_doctor(ctx.services, tx, _facility(ctx), data.doctor)
            made = await schedule.create(tx, _facility(ctx), data)
            await ctx.audit(tx, "polyclinic.schedule/manage", object=str(data.doctor),
                            detail=f"{len(made)} slots")
            return made
        return await ctx.transact(work)

    @get("/queue", opt=requires("polyclinic.queue", "read"), summary="A doctor's slots of one day")
    async def queue(self, ctx: Ctx, doctor: FromQuery[UUID], day: FromQuery[date]) -> Queue:
        async with ctx.storage.transaction() as tx:
            found = await schedule.queue(tx, _facility(ctx), doctor, day)
            await ctx.audit(tx, "polyclinic.queue/read", object=f"{doctor}/{day.isoformat()}")
            return found

    @post("/slots/{slot_id:uuid}/booking", status_code=200, opt=requires("polyclinic.appointment", "book"))
    async def book(self, ctx: Ctx, slot_id: Id, data: JSONBody[BookIn]) -> Slot:
        async def work(tx: Transaction) -> Slot:
            patient = await patients.find(ctx.services, tx, data.patient_id)
            slot = await schedule.book(tx, _facility(ctx), slot_id, patient)
            await ctx.audit(tx, "polyclinic.appointment/book", patient=patient.pinfl, object=str(slot_id))
            return slot
        return await ctx.transact(work)

    @post("/slots/{slot_id:uuid}/cancel", status_code=200, opt=requires("polyclinic.appointment", "book"))
    async def cancel(self, ctx: Ctx, slot_id: Id) -> Slot:
        async def work(tx: Transaction) -> Slot:
            before = await schedule.get(tx, _facility(ctx), slot_id)
            slot = await schedule.cancel(tx, _facility(ctx), slot_id)
            await ctx.audit(tx, "polyclinic.appointment/cancel", patient=before.pinfl, object=str(slot_id))
            return slot
        return await ctx.transact(work)

    @post("/slots/{slot_id:uuid}/no-show", status_code=200, opt=requires("polyclinic.appointment", "book"))
    async def no_show(self, ctx: Ctx, slot_id: Id) -> Slot:
        async def work(tx: Transaction) -> Slot:
            slot = await schedule.no_show(tx, _facility(ctx), slot_id)
            await ctx.audit(tx, "polyclinic.appointment/no_show", object=str(slot_id))
            return slot
        return await ctx.transact(work)

    @post("/slots/{slot_id:uuid}/check-in", status_code=200, opt=requires("polyclinic.visit", "open"),
          summary="The booked patient arrived: open the visit")
    async def check_in(self, ctx: Ctx, slot_id: Id) -> Visit:
        async def work(tx: Transaction) -> Visit:
            visit = await visits.check_in(tx, _facility(ctx), slot_id)
            await ctx.audit(tx, "polyclinic.visit/open", object=str(visit.id), detail="check-in")
            return visit
        return await ctx.transact(work)


class VisitController(Controller):
    path = "/visits"

    @post("/", opt=requires("polyclinic.visit", "open"), summary="Open a walk-in visit")
    async def walk_in(self, ctx: Ctx, data: JSONBody[WalkInIn]) -> Visit:
        async def work(tx: Transaction) -> Visit:
            patient = await patients.find(ctx.services, tx, data.patient_id)
            visit = await visits.walk_in(tx, _facility(ctx), patient, data.doctor or _me(ctx))
            await ctx.audit(tx, "polyclinic.visit/open", patient=patient.pinfl, object=str(visit.id))
            return visit
        return await ctx.transact(work)

    @get("/{visit_id:uuid}", opt=requires("polyclinic.visit", "read"))
    async def read(self, ctx: Ctx, visit_id: Id) -> Visit:
        async with ctx.storage.transaction() as tx:
            row = await visits.get(tx, _facility(ctx), visit_id)
            await ctx.audit(tx, "polyclinic.visit/read", patient=row.pinfl, object=str(visit_id))
            return visits.to_visit(row)

    @post("/{visit_id:uuid}/close", status_code=200, opt=requires("polyclinic.visit", "close"))
    async def close(self, ctx: Ctx, visit_id: Id, data: JSONBody[CloseIn]) -> Visit:
        async def work(tx: Transaction) -> Visit:
            visit = await visits.close(tx, _facility(ctx), visit_id, data, _me(ctx))
            await ctx.audit(tx, "polyclinic.visit/close", object=str(visit_id), detail=visit.final_diagnosis)
            return visit
        return await ctx.transact(work)

    @get("/{visit_id:uuid}/card", opt=requires("polyclinic.visit", "read"), summary="The outpatient card")
    async def outpatient_card(self, ctx: Ctx, visit_id: Id) -> OutpatientCard:
        async with ctx.storage.transaction() as tx:
            found = await card.assemble(tx, _facility(ctx), visit_id)
            await ctx.audit(tx, "polyclinic.visit/read", object=str(visit_id), detail="outpatient card")
            return found

    @post("/{visit_id:uuid}/referrals", opt=requires("polyclinic.referral", "create"),
          summary="Refer to a hospital, or order a laboratory or instrumental examination")
    async def refer(self, ctx: Ctx, visit_id: Id, data: JSONBody[ReferralIn]) -> Referral:
        async def work(tx: Transaction) -> Referral:
            made = await referrals.create(tx, _facility(ctx), visit_id, data)
            await ctx.audit(tx, f"polyclinic.referral/{made.kind}", object=str(made.id))
            return made
        return await ctx.transact(work)
