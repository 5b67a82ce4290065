"""HTTP routes of the medical card, mounted under /api/v1/medcard/."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import Parameter

from host.pluginapi import Ctx, requires
from plugins.medcard import INFO, service
from plugins.medcard.schema import Entry, EntryIn, EntryPage, ModuleStatus, Patient, PatientIn

_RANK = ("doctor", "resident", "nurse", "pharmacist")


def acting_role(ctx: Ctx) -> str:
    """The role the caller acts in at this facility (the most senior one they hold there)."""
    assert ctx.principal is not None and ctx.facility is not None
    held = ctx.principal.roles_at(ctx.facility)
    return next(r for r in _RANK if r in held)


class ModuleController(Controller):
    path = "/"

    @get("/", opt=requires("medcard.module", "read"))
    async def status(self, ctx: Ctx) -> ModuleStatus:
        """The module is installed at the caller's facility and answers."""
        return ModuleStatus(module=INFO.name, title=INFO.title, version=INFO.version, facility=ctx.facility)


class PatientController(Controller):
    path = "/patients"

    @post("/", opt=requires("medcard.patient", "register"))
    async def register(self, ctx: Ctx, data: PatientIn) -> Patient:
        """Register a patient; the PINFL must agree with the birth date and sex (422), once (409)."""
        async with ctx.storage.transaction() as tx:
            return await service.register_patient(tx, data, by=ctx.user_id, facility=ctx.facility)

    @get("/", opt=requires("medcard.patient", "read"))
    async def search(
        self, ctx: Ctx, pinfl: Annotated[str, Parameter(pattern=r"^[0-9]{14}$")]
    ) -> list[Patient]:
        """Find a patient by PINFL."""
        async with ctx.storage.transaction(readonly=True) as tx:
            return await service.find_patients(tx, pinfl)

    @get("/{patient_id:uuid}", opt=requires("medcard.patient", "read"))
    async def read(self, ctx: Ctx, patient_id: UUID) -> Patient:
        async with ctx.storage.transaction(readonly=True) as tx:
            return await service.get_patient(tx, patient_id)

    @post("/{patient_id:uuid}/entries", opt=requires("medcard.entry", "record"))
    async def record(self, ctx: Ctx, patient_id: UUID, data: EntryIn) -> Entry:
        """Record an entry on the card; other modules receive it right after commit."""
        assert ctx.user_id is not None and ctx.facility is not None
        async with ctx.storage.transaction() as tx:
            return await service.record_entry(tx, patient_id, data, author=ctx.user_id,
                                              role=acting_role(ctx), facility=ctx.facility)

    @get("/{patient_id:uuid}/entries", opt=requires("medcard.entry", "read"))
    async def entries(
        self, ctx: Ctx, patient_id: UUID,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
        kind: Annotated[str | None, Parameter(max_length=32)] = None,
    ) -> EntryPage:
        """The patient's timeline, newest first; pass ``next`` back as ``cursor`` for the next page."""
        async with ctx.storage.transaction(readonly=True) as tx:
            return await service.timeline(tx, patient_id, limit=limit, cursor=cursor, kind=kind)
