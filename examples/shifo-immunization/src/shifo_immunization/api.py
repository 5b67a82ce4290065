"""HTTP routes: for staff under /api/v1/immunization/, and the patient's own doses under
/api/v1/patient/immunizations. Each opens one transaction and audits in it; a write goes through
``ctx.transact``, which re-runs it when it loses to a concurrent request."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody

from host.pluginapi import Ctx, own_record, requires, status_controller
from ports.storage import Transaction
from shifo_immunization import INFO, doses
from shifo_immunization.schema import Dose, DoseIn, ImmunizationSettings

#: ``GET /``: the module is installed at the caller's facility and answers (the host's own)
StatusController = status_controller(INFO)


def settings(ctx: Ctx) -> ImmunizationSettings:
    """The module's settings, validated at start-up by the host (hook ``shifo_settings``)."""
    return ctx.settings if isinstance(ctx.settings, ImmunizationSettings) else ImmunizationSettings()


class DoseController(Controller):
    path = "/patients/{patient_id:uuid}/doses"

    @post("/", opt=requires("immunization.dose", "record"),
          summary="Record a vaccine dose given")
    async def record(self, ctx: Ctx, patient_id: FromPath[UUID], data: JSONBody[DoseIn]) -> Dose:
        async def work(tx: Transaction) -> Dose:
            who = await doses.patient(ctx.services, tx, patient_id)
            dose = await doses.record(tx, ctx.facility_id, ctx.caller_id, who, data, settings(ctx))
            await ctx.audit(tx, "immunization.dose/record", patient=who.pinfl, object=str(dose.id))
            return dose
        return await ctx.transact(work)

    @get("/", opt=requires("immunization.dose", "read"),
         summary="A patient's immunization record")
    async def read(self, ctx: Ctx, patient_id: FromPath[UUID]) -> list[Dose]:
        async with ctx.storage.transaction() as tx:
            who = await doses.patient(ctx.services, tx, patient_id)
            found = await doses.of_patient(tx, who.pinfl, settings(ctx))
            await ctx.audit(tx, "immunization.dose/read", patient=who.pinfl)
            return found


@get("/immunizations", opt=own_record("immunization.dose"), summary="My immunizations")
async def my_immunizations(ctx: Ctx) -> list[Dose]:
    """The caller's own doses: the PINFL is the caller's, never one from the request."""
    async with ctx.storage.transaction() as tx:
        found = await doses.of_patient(tx, ctx.patient, settings(ctx))
        await ctx.audit(tx, "immunization.dose/read", patient=ctx.patient, detail="patient app")
        return found


PATIENT_HANDLERS: list[Any] = [my_immunizations]
