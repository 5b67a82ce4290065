"""Facility reports: late entries (per facility and per user) and completeness."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from litestar import Controller, get
from litestar.params import FromQuery, Parameter

from host.pluginapi import Ctx, requires
from plugins.medcard import reports
from plugins.medcard.api import late_after
from plugins.medcard.schema import CompletenessReport, LateReport


class ReportController(Controller):
    path = "/reports"

    @get("/late-entries", opt=requires("medcard.report", "read"))
    async def late(self, ctx: Ctx, since: FromQuery[datetime | None] = None,
                   author: FromQuery[UUID | None] = None) -> LateReport:
        """Entries of the caller's facility recorded later than the configured delay, counted per
        user; ``author`` narrows to one user, ``since`` to entries recorded from then on."""
        assert ctx.facility is not None
        async with ctx.storage.transaction() as tx:
            return await reports.late(tx, ctx.facility, late_after=late_after(ctx), since=since,
                                      author=author, audit=ctx.audit)

    @get("/completeness", opt=requires("medcard.report", "read"))
    async def completeness(
        self, ctx: Ctx, stale_after_days: Annotated[int, Parameter(ge=0, le=3650)] = 14
    ) -> CompletenessReport:
        """Provisional diagnoses never confirmed or refuted, and lab entries still without a result."""
        assert ctx.facility is not None
        async with ctx.storage.transaction() as tx:
            return await reports.completeness(tx, ctx.facility, stale_after_days=stale_after_days,
                                              audit=ctx.audit)
