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
from host.pluginapi import Ctx, requires
from plugins.hospital import INFO, card, patients, stays, wards
from plugins.hospital.schema import (
    AdmitIn,
    Census,
    DischargeIn,
    InpatientCard,
    ModuleStatus,
    Pending,
    Stay,
    TransferIn,
    Ward,
    WardIn,
)
from plugins.hospital.tables import pending
from ports.storage import Transaction

Id = FromPath[UUID]


def _facility(ctx: Ctx) -> str:
    assert ctx.facility is not None  # facility-scoped routes always have one
    return ctx.facility


def _me(ctx: Ctx) -> UUID:
    assert ctx.user_id is not None
    return ctx.user_id


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


class ModuleController(Controller):
    path = "/"

    @get("/", opt=requires("hospital.module", "read"))
    async def status(self, ctx: Ctx) -> ModuleStatus:
        """The module is installed at the caller's facility and answers."""
        return ModuleStatus(module=INFO.name, title=INFO.title, version=INFO.version, facility=ctx.facility)


class WardController(Controller):
    path = "/"

    @post("/wards", opt=requires("hospital.ward", "manage"), summary="Add a ward with its beds")
    async def add(self, ctx: Ctx, data: JSONBody[WardIn]) -> Ward:
        async def work(tx: Transaction) -> Ward:
            ward = await wards.create(tx, _facility(ctx), data)
            await ctx.audit(tx, "hospital.ward/manage", object=str(ward.id))
            return ward
        return await ctx.transact(work)

    @get("/wards", opt=requires("hospital.ward", "read"), summary="Wards, beds and who lies where")
    async def list(self, ctx: Ctx) -> list[Ward]:
        async with ctx.storage.transaction() as tx:
            found = await wards.all_of(tx, _facility(ctx))
            await ctx.audit(tx, "hospital.ward/read")
            return found

    @get("/census", opt=requires("hospital.ward", "read"), summary="Beds occupied and free, patients in")
    async def census(self, ctx: Ctx) -> Census:
        async with ctx.storage.transaction() as tx:
            found = await wards.census(tx, _facility(ctx), await stays.admitted(tx, _facility(ctx)))
            await ctx.audit(tx, "hospital.ward/read", detail="census")
            return found


class StayController(Controller):
    path = "/"

    @get("/admissions/pending", opt=requires("hospital.stay", "read"), summary="Referrals awaiting admission")
    async def pending(self, ctx: Ctx) -> list[Pending]:
        async with ctx.storage.transaction() as tx:
            rows = await tx.execute(select(pending).where(pending.c.facility == _facility(ctx),
                                    pending.c.status == "pending").order_by(pending.c.received_at))
            out = [Pending(referral_id=r.referral_id, patient_id=r.patient_id, from_facility=r.from_facility,
                           diagnosis=r.diagnosis, reason=r.reason, received_at=r.received_at) for r in rows]
            await ctx.audit(tx, "hospital.stay/read", detail="pending admissions")
            return out

    @post("/stays", opt=requires("hospital.stay", "admit"), summary="Admit (referral or emergency)")
    async def admit(self, ctx: Ctx, data: JSONBody[AdmitIn]) -> Stay:
        async def work(tx: Transaction) -> Stay:
            patient_id = await _referred(tx, _facility(ctx), data)
            patient = await patients.find(ctx.services, tx, patient_id)
            stay = await stays.admit(tx, _facility(ctx), data, patient, _me(ctx))
            await ctx.audit(tx, "hospital.stay/admit", patient=patient.pinfl, object=str(stay.id))
            return stay
        return await ctx.transact(work)

    @get("/stays/{stay_id:uuid}", opt=requires("hospital.stay", "read"))
    async def read(self, ctx: Ctx, stay_id: Id) -> Stay:
        async with ctx.storage.transaction() as tx:
            row = await stays.get(tx, _facility(ctx), stay_id)
            await ctx.audit(tx, "hospital.stay/read", patient=row.pinfl, object=str(stay_id))
            return stays.to_stay(row)

    @get("/stays/{stay_id:uuid}/card", opt=requires("hospital.stay", "read"), summary="The inpatient card")
    async def inpatient_card(self, ctx: Ctx, stay_id: Id) -> InpatientCard:
        async with ctx.storage.transaction() as tx:
            found = await card.assemble(tx, _facility(ctx), stay_id)
            await ctx.audit(tx, "hospital.stay/read", object=str(stay_id), detail="inpatient card")
            return found

    @post("/stays/{stay_id:uuid}/transfer", status_code=200, opt=requires("hospital.stay", "transfer"))
    async def transfer(self, ctx: Ctx, stay_id: Id, data: JSONBody[TransferIn]) -> Stay:
        async def work(tx: Transaction) -> Stay:
            stay = await stays.transfer(tx, _facility(ctx), stay_id, data, _me(ctx))
            await ctx.audit(tx, "hospital.stay/transfer", object=str(stay_id), detail=str(data.bed_id))
            return stay
        return await ctx.transact(work)

    @post("/stays/{stay_id:uuid}/discharge", status_code=200, opt=requires("hospital.stay", "discharge"))
    async def discharge(self, ctx: Ctx, stay_id: Id, data: JSONBody[DischargeIn]) -> Stay:
        async def work(tx: Transaction) -> Stay:
            stay = await stays.discharge(tx, _facility(ctx), stay_id, data, _me(ctx))
            await ctx.audit(tx, "hospital.stay/discharge", object=str(stay_id), detail=data.outcome)
            return stay
        return await ctx.transact(work)
