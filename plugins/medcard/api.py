"""HTTP routes of the medical card, mounted under /api/v1/medcard/: module, patients, reading the card.

Recording routes are per entry kind (``entry_routes.py``) so that each carries its own permission.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from host.pluginapi import Ctx, requires, status_controller
from plugins.medcard import INFO, config, module_records, timeline, versions
from plugins.medcard import patients as registry
from plugins.medcard.entries import Author
from plugins.medcard.schema import Entry, Patient, PatientIn, TimelinePage

_RANK = ("doctor", "resident", "nurse", "pharmacist")
Kind = Literal["indicator", "diagnosis", "lab", "instrumental", "complaint", "finding"]
RecordKind = Literal["prescription", "outpatient_visit", "inpatient_stay"]


def author(ctx: Ctx) -> Author:
    """The caller, acting in the most senior role they hold at the request's facility."""
    assert ctx.principal is not None and ctx.facility is not None
    held = ctx.principal.roles_at(ctx.facility)
    return Author(id=ctx.principal.id, role=next(r for r in _RANK if r in held), facility=ctx.facility)


def late_after(ctx: Ctx) -> timedelta:
    """The late threshold: the module's settings (hook ``shifo_settings``), validated at start-up."""
    settings: config.Settings = ctx.settings or config.Settings()
    return settings.late_after


ModuleController = status_controller(INFO)


class PatientController(Controller):
    path = "/patients"

    @post("/", opt=requires("medcard.patient", "register"))
    async def register(self, ctx: Ctx, data: JSONBody[PatientIn]) -> Patient:
        """Register a patient; the PINFL must agree with the birth date and sex (422), once (409)."""
        return await ctx.transact(lambda tx: registry.register(
            tx, data, by=ctx.user_id, facility=ctx.facility, audit=ctx.audit))

    @get("/", opt=requires("medcard.patient", "read"))
    async def search(
        self, ctx: Ctx,
        pinfl: Annotated[str | None, Parameter(pattern=r"^[0-9]{14}\Z")] = None,
        surname: Annotated[str | None, Parameter(min_length=1, max_length=100)] = None,
        given_name: Annotated[str | None, Parameter(min_length=1, max_length=100)] = None,
        birth_date: FromQuery[date | None] = None,
    ) -> list[Patient]:
        """Find patients by PINFL, or by surname and date of birth (given name optional).

        Give ``pinfl``, or ``surname`` with ``birth_date``: any other combination is a 422 (never a
        bare name list)."""
        async with ctx.storage.transaction() as tx:
            return await registry.search(tx, audit=ctx.audit, pinfl=pinfl, surname=surname,
                                         given_name=given_name, birth_date=birth_date)

    @get("/{patient_id:uuid}", opt=requires("medcard.patient", "read"))
    async def read(self, ctx: Ctx, patient_id: FromPath[UUID]) -> Patient:
        """One patient's registration (404 if unknown); audited."""
        async with ctx.storage.transaction() as tx:
            return await registry.read(tx, patient_id, audit=ctx.audit)


class CardController(Controller):
    """Reading the card: the timeline, one entry, one entry's history."""

    path = "/patients/{patient_id:uuid}/entries"

    @get("/", opt=requires("medcard.entry", "read"))
    async def timeline(
        self, ctx: Ctx, patient_id: FromPath[UUID],
        limit: Annotated[int, Parameter(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
        kind: FromQuery[Kind | RecordKind | None] = None,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        history: FromQuery[bool] = False,
    ) -> TimelinePage:
        """Newest first, the card's entries and the other modules' prescriptions, visits and stays
        (``kind`` picks one kind of either); ``since``/``until`` bound ``performed_at``; ``history``
        adds past versions of entries. Pass ``next`` back as ``cursor`` for the next page."""
        async with ctx.storage.transaction() as tx:
            return await timeline.merged(tx, patient_id, limit=limit, cursor=cursor, kind=kind, since=since,
                                         until=until, history=history, audit=ctx.audit)

    @get("/{entry_id:uuid}", opt=requires("medcard.entry", "read"))
    async def entry(self, ctx: Ctx, patient_id: FromPath[UUID], entry_id: FromPath[UUID]) -> Entry:
        """The entry's latest version (``status`` says whether it is current or entered in error)."""
        async with ctx.storage.transaction() as tx:
            return await versions.current(tx, patient_id, entry_id, audit=ctx.audit)

    @get("/{entry_id:uuid}/history", opt=requires("medcard.entry", "read"))
    async def history(self, ctx: Ctx, patient_id: FromPath[UUID], entry_id: FromPath[UUID]) -> list[Entry]:
        """Every version of the entry, oldest first, with author and reason of each."""
        async with ctx.storage.transaction() as tx:
            return await versions.history(tx, patient_id, entry_id, audit=ctx.audit)


class RecordsController(Controller):
    """What the other modules record for the patient, on their own: prescriptions, outpatient
    visits, inpatient stays (the timeline ``/entries`` shows them too, among the entries)."""

    path = "/patients/{patient_id:uuid}/records"

    @get("/", opt=requires("medcard.entry", "read"))
    async def records(self, ctx: Ctx, patient_id: FromPath[UUID],
                      kind: FromQuery[RecordKind | None] = None) -> list[module_records.ModuleRecord]:
        """Newest first, each with its current status; empty where those modules are not installed."""
        async with ctx.storage.transaction() as tx:
            return await module_records.listing(tx, patient_id, kind=kind, audit=ctx.audit)
