"""HTTP routes of the hospital module, mounted under /api/v1/hospital/. Thin: each opens one
transaction, calls a use case and writes its audit line in that same transaction; a write runs
through ``ctx.transact``, which re-runs it when it loses to a concurrent request."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from core.errors import ValidationFailed
from host.pluginapi import Ctx, requires, status_controller
from plugins.hospital import INFO, card, stays, wards
from plugins.hospital.schema import (
    AdmitIn,
    Census,
    DischargeIn,
    InpatientCard,
    Pending,
    Stay,
    TransferIn,
    Ward,
    WardIn,
)
from plugins.hospital.tables import pending
from ports.encounters import find_patient
from ports.storage import Transaction

Id = FromPath[UUID]
ModuleController = status_controller(INFO)


async def _referred(tx: Any, facility: str, data: AdmitIn) -> UUID:
    """The patient to admit: the referred one, or the one named for an emergency admission."""
    if data.referral_id is None:
        if data.patient_id is None:
            raise _field("patient_id", "give referral_id, or patient_id for an emergency admission")
        return data.patient_id
    ref = await stays.referral(tx, facility, data.referral_id)
    if data.patient_id not in (None, ref.patient_id):
        raise _field("patient_id", "patient_id is not the referred patient")
    patient_id: UUID = ref.patient_id
    return patient_id


def _field(name: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": name, "message": detail}])


class WardController(Controller):
    path = "/"

    @post("/wards", opt=requires("hospital.ward", "manage"), summary="Add a ward with its beds")
    async def add(self, ctx: Ctx, data: JSONBody[WardIn]) -> Ward:
        """A ward and its beds at the caller's facility (409 if the name is taken, 422 if bed
        labels repeat)."""
        async def work(tx: Transaction) -> Ward:
            ward = await wards.create(tx, ctx.facility_id, data)
            await ctx.audit(tx, "hospital.ward/manage", object=str(ward.id))
            return ward
        return await ctx.transact(work)

    @get("/wards", opt=requires("hospital.ward", "read"), summary="Wards, beds and who lies where")
    async def list(self, ctx: Ctx) -> list[Ward]:
        """Every ward of the caller's facility with its beds and the patient in each; audited."""
        async with ctx.storage.transaction() as tx:
            found = await wards.all_of(tx, ctx.facility_id)
            await ctx.audit(tx, "hospital.ward/read")
            return found

    @get("/census", opt=requires("hospital.ward", "read"), summary="Beds occupied and free, patients in")
    async def census(self, ctx: Ctx) -> Census:
        """Beds occupied and free per ward, and the patients admitted; audited."""
        async with ctx.storage.transaction() as tx:
            found = await wards.census(tx, ctx.facility_id, await stays.admitted(tx, ctx.facility_id))
            await ctx.audit(tx, "hospital.ward/read", detail="census")
            return found


class StayController(Controller):
    path = "/"

    @get("/admissions/pending", opt=requires("hospital.stay", "read"), summary="Referrals awaiting admission")
    async def pending(self, ctx: Ctx) -> list[Pending]:
        """Referrals to this hospital not yet admitted, oldest first; audited."""
        async with ctx.storage.transaction() as tx:
            rows = await tx.execute(select(pending).where(pending.c.facility == ctx.facility_id,
                                    pending.c.status == "pending").order_by(pending.c.received_at))
            out = [Pending(referral_id=r.referral_id, patient_id=r.patient_id, from_facility=r.from_facility,
                           diagnosis=r.diagnosis, reason=r.reason, received_at=r.received_at) for r in rows]
            await ctx.audit(tx, "hospital.stay/read", detail="pending admissions")
            return out

    @post("/stays", opt=requires("hospital.stay", "admit"), summary="Admit (referral or emergency)")
    async def admit(self, ctx: Ctx, data: JSONBody[AdmitIn]) -> Stay:
        """Admit to a free bed, from a referral or as an emergency.

        Give ``referral_id`` (a pending referral to this hospital; a ``patient_id`` given too must
        be the referred patient's) or, for an emergency, ``patient_id`` alone: neither is a 422.
        409 if the patient is already admitted here or the referral was admitted meanwhile."""
        async def work(tx: Transaction) -> Stay:
            patient_id = await _referred(tx, ctx.facility_id, data)
            patient = await find_patient(ctx.services, tx, patient_id)
            stay = await stays.admit(tx, ctx.facility_id, data, patient, ctx.caller_id)
            await ctx.audit(tx, "hospital.stay/admit", patient=patient.pinfl, object=str(stay.id))
            return stay
        return await ctx.transact(work)

    @get("/stays/{stay_id:uuid}", opt=requires("hospital.stay", "read"))
    async def read(self, ctx: Ctx, stay_id: Id) -> Stay:
        """One stay at the caller's facility (404 elsewhere); audited."""
        async with ctx.storage.transaction() as tx:
            row = await stays.get(tx, ctx.facility_id, stay_id)
            await ctx.audit(tx, "hospital.stay/read", patient=row.pinfl, object=str(stay_id))
            return stays.to_stay(row)

    @get("/stays/{stay_id:uuid}/card", opt=requires("hospital.stay", "read"), summary="The inpatient card")
    async def inpatient_card(self, ctx: Ctx, stay_id: Id) -> InpatientCard:
        """The stay's inpatient card: the card's sections, the stay, its transfers and the discharge
        prescriptions; audited."""
        async with ctx.storage.transaction() as tx:
            found = await card.assemble(tx, ctx.facility_id, stay_id)
            await ctx.audit(tx, "hospital.stay/read", object=str(stay_id), detail="inpatient card")
            return found

    @post("/stays/{stay_id:uuid}/transfer", status_code=200, opt=requires("hospital.stay", "transfer"))
    async def transfer(self, ctx: Ctx, stay_id: Id, data: JSONBody[TransferIn]) -> Stay:
        """Move an admitted patient to another bed (409 if discharged, or already in it); audited."""
        async def work(tx: Transaction) -> Stay:
            stay = await stays.transfer(tx, ctx.facility_id, stay_id, data, ctx.caller_id)
            await ctx.audit(tx, "hospital.stay/transfer", object=str(stay_id), detail=str(data.bed_id))
            return stay
        return await ctx.transact(work)

    @post("/stays/{stay_id:uuid}/discharge", status_code=200, opt=requires("hospital.stay", "discharge"))
    async def discharge(self, ctx: Ctx, stay_id: Id, data: JSONBody[DischargeIn]) -> Stay:
        """Discharge with the final diagnosis, outcome and summary; frees the bed (409 if already
        discharged); audited."""
        async def work(tx: Transaction) -> Stay:
            stay = await stays.discharge(tx, ctx.facility_id, stay_id, data, ctx.caller_id)
            await ctx.audit(tx, "hospital.stay/discharge", object=str(stay_id), detail=data.outcome)
            return stay
        return await ctx.transact(work)
