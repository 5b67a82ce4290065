"""HTTP routes of the polyclinic module, mounted under /api/v1/polyclinic/. Thin: each opens one
transaction, calls a use case and writes its audit line in that same transaction; a write runs
through ``ctx.transact``, which re-runs it when it loses to a concurrent request."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from host.pluginapi import Ctx, requires, status_controller
from plugins.polyclinic import INFO, card, referrals, schedule, staff, visits
from plugins.polyclinic.schema import (
    BookIn,
    CloseIn,
    OutpatientCard,
    Queue,
    Referral,
    ReferralIn,
    ScheduleIn,
    Slot,
    Visit,
    WalkInIn,
)
from ports.encounters import find_patient
from ports.storage import Transaction

Id = FromPath[UUID]
ModuleController = status_controller(INFO)


class AppointmentController(Controller):
    path = "/"

    @post("/schedules", opt=requires("polyclinic.schedule", "manage"), summary="Add a doctor's slots")
    async def add_schedule(self, ctx: Ctx, data: JSONBody[ScheduleIn]) -> list[Slot]:
        """Slots of ``slot_minutes`` for a doctor of this facility over a period (409 if they overlap
        slots the doctor already has; 422 without timezones or with too many slots)."""
        async def work(tx: Transaction) -> list[Slot]:
            await staff.check_doctor(ctx.services, tx, ctx.facility_id, data.doctor)
            made = await schedule.create(tx, ctx.facility_id, data)
            await ctx.audit(tx, "polyclinic.schedule/manage", object=str(data.doctor),
                            detail=f"{len(made)} slots")
            return made
        return await ctx.transact(work)

    @get("/queue", opt=requires("polyclinic.queue", "read"), summary="A doctor's slots of one day")
    async def queue(self, ctx: Ctx, doctor: FromQuery[UUID], day: FromQuery[date]) -> Queue:
        """A doctor's slots of one day at this facility, with their state; audited."""
        async with ctx.storage.transaction() as tx:
            found = await schedule.queue(tx, ctx.facility_id, doctor, day)
            await ctx.audit(tx, "polyclinic.queue/read", object=f"{doctor}/{day.isoformat()}")
            return found

    @post("/slots/{slot_id:uuid}/booking", status_code=200, opt=requires("polyclinic.appointment", "book"))
    async def book(self, ctx: Ctx, slot_id: Id, data: JSONBody[BookIn]) -> Slot:
        """Book a free slot for a patient (409 if it is taken); audited."""
        async def work(tx: Transaction) -> Slot:
            patient = await find_patient(ctx.services, tx, data.patient_id)
            slot = await schedule.book(tx, ctx.facility_id, slot_id, patient)
            await ctx.audit(tx, "polyclinic.appointment/book", patient=patient.pinfl, object=str(slot_id))
            return slot
        return await ctx.transact(work)

    @post("/slots/{slot_id:uuid}/cancel", status_code=200, opt=requires("polyclinic.appointment", "book"))
    async def cancel(self, ctx: Ctx, slot_id: Id) -> Slot:
        """Cancel a booking: the slot is free again (409 if it is not booked); audited."""
        async def work(tx: Transaction) -> Slot:
            before = await schedule.get(tx, ctx.facility_id, slot_id)
            slot = await schedule.cancel(tx, ctx.facility_id, slot_id)
            await ctx.audit(tx, "polyclinic.appointment/cancel", patient=before.pinfl, object=str(slot_id))
            return slot
        return await ctx.transact(work)

    @post("/slots/{slot_id:uuid}/no-show", status_code=200, opt=requires("polyclinic.appointment", "book"))
    async def no_show(self, ctx: Ctx, slot_id: Id) -> Slot:
        """Mark a booked slot as a no-show (409 if it is not booked); audited."""
        async def work(tx: Transaction) -> Slot:
            slot = await schedule.no_show(tx, ctx.facility_id, slot_id)
            await ctx.audit(tx, "polyclinic.appointment/no_show", object=str(slot_id))
            return slot
        return await ctx.transact(work)

    @post("/slots/{slot_id:uuid}/check-in", status_code=200, opt=requires("polyclinic.visit", "open"),
          summary="The booked patient arrived: open the visit")
    async def check_in(self, ctx: Ctx, slot_id: Id) -> Visit:
        """The booked patient arrived: open their visit from the slot (409 if it is not booked); audited."""
        async def work(tx: Transaction) -> Visit:
            visit = await visits.check_in(tx, ctx.facility_id, slot_id)
            await ctx.audit(tx, "polyclinic.visit/open", object=str(visit.id), detail="check-in")
            return visit
        return await ctx.transact(work)


class VisitController(Controller):
    path = "/visits"

    @post("/", opt=requires("polyclinic.visit", "open"), summary="Open a walk-in visit")
    async def walk_in(self, ctx: Ctx, data: JSONBody[WalkInIn]) -> Visit:
        """Open a visit without a booking (409 if the patient already has an open visit here); audited."""
        async def work(tx: Transaction) -> Visit:
            patient = await find_patient(ctx.services, tx, data.patient_id)
            visit = await visits.walk_in(tx, ctx.facility_id, patient, data.doctor or ctx.caller_id)
            await ctx.audit(tx, "polyclinic.visit/open", patient=patient.pinfl, object=str(visit.id))
            return visit
        return await ctx.transact(work)

    @get("/{visit_id:uuid}", opt=requires("polyclinic.visit", "read"))
    async def read(self, ctx: Ctx, visit_id: Id) -> Visit:
        """One visit at the caller's facility (404 elsewhere); audited."""
        async with ctx.storage.transaction() as tx:
            row = await visits.get(tx, ctx.facility_id, visit_id)
            await ctx.audit(tx, "polyclinic.visit/read", patient=row.pinfl, object=str(visit_id))
            return visits.to_visit(row)

    @post("/{visit_id:uuid}/close", status_code=200, opt=requires("polyclinic.visit", "close"))
    async def close(self, ctx: Ctx, visit_id: Id, data: JSONBody[CloseIn]) -> Visit:
        """Close an open visit; its final diagnosis is the visit's primary one on the card (409 if it has
        none, or the visit is closed); audited."""
        async def work(tx: Transaction) -> Visit:
            visit = await visits.close(tx, ctx.facility_id, visit_id, data, ctx.caller_id)
            await ctx.audit(tx, "polyclinic.visit/close", object=str(visit_id), detail=visit.final_diagnosis)
            return visit
        return await ctx.transact(work)

    @get("/{visit_id:uuid}/card", opt=requires("polyclinic.visit", "read"), summary="The outpatient card")
    async def outpatient_card(self, ctx: Ctx, visit_id: Id) -> OutpatientCard:
        """The visit's outpatient card: the card's sections, the visit, its referrals and orders; audited."""
        async with ctx.storage.transaction() as tx:
            found = await card.assemble(tx, ctx.facility_id, visit_id)
            await ctx.audit(tx, "polyclinic.visit/read", object=str(visit_id), detail="outpatient card")
            return found

    @post("/{visit_id:uuid}/referrals", opt=requires("polyclinic.referral", "create"),
          summary="Refer to a hospital, or order a laboratory or instrumental examination")
    async def refer(self, ctx: Ctx, visit_id: Id, data: JSONBody[ReferralIn]) -> Referral:
        """From an open visit: a referral to a hospital, or a laboratory or instrumental order; audited."""
        async def work(tx: Transaction) -> Referral:
            made = await referrals.create(tx, ctx.facility_id, visit_id, data)
            await ctx.audit(tx, f"polyclinic.referral/{made.kind}", object=str(made.id))
            return made
        return await ctx.transact(work)
