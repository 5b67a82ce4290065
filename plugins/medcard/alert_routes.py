"""HTTP routes of critical-result alerts, under /api/v1/medcard/alerts (the stream: ``alert_stream.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from core.errors import ValidationFailed
from host.pluginapi import Ctx, requires
from plugins.medcard import alert_actions
from plugins.medcard.alert_actions import AlertReport
from plugins.medcard.alert_duty import AlertService
from plugins.medcard.alert_events import Alert

SERVICE = "medcard.alerts"
REPORT_DAYS = 30


class AcknowledgeIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]  # what was done about it


def service(ctx: Ctx) -> AlertService:
    found: AlertService = ctx.services[SERVICE]
    return found


class AlertController(Controller):
    path = "/alerts"

    @get("/", opt=requires("medcard.alert", "read"))
    async def listing(self, ctx: Ctx, show: FromQuery[Literal["mine", "facility"]] = "mine") -> list[Alert]:
        """Open alerts at the caller's facility, oldest first: addressed to the caller (``mine``), or
        every one (``facility``)."""
        assert ctx.facility is not None and ctx.principal is not None
        who = ctx.principal.id if show == "mine" else None
        async with ctx.storage.transaction() as tx:
            return await alert_actions.open_alerts(tx, ctx.facility, who, audit=ctx.audit)

    @post("/{alert_id:uuid}/acknowledge", opt=requires("medcard.alert", "acknowledge"), status_code=200)
    async def acknowledge(self, ctx: Ctx, alert_id: FromPath[UUID], data: JSONBody[AcknowledgeIn]) -> Alert:
        """Acknowledge an open alert with a note; the second acknowledgement is a 409."""
        assert ctx.facility is not None and ctx.principal is not None
        facility, by, now = ctx.facility, ctx.principal.id, service(ctx).clock()
        if not data.note.strip():
            raise ValidationFailed("the note is blank", errors=[{"field": "note", "message": "blank"}])
        return await ctx.transact(lambda tx: alert_actions.acknowledge(
            tx, facility, alert_id, by=by, note=data.note, now=now, audit=ctx.audit))

    @get("/report", opt=requires("medcard.report", "read"))
    async def report(self, ctx: Ctx, since: FromQuery[datetime | None] = None,
                     until: FromQuery[datetime | None] = None) -> AlertReport:
        """Time to acknowledge at the caller's facility, for alerts raised in ``[since, until)``
        (default: the last 30 days): count, acknowledged, unacknowledged, escalated, median, p90, max."""
        assert ctx.facility is not None
        end = until or service(ctx).clock()
        for name, value in (("since", since or end), ("until", end)):
            if value.tzinfo is None or value.year < 2:  # a year 1 cannot go back 30 days
                raise ValidationFailed(f"{name} needs a timezone and a year after 1",
                                       errors=[{"field": name, "message": "a timezone and a year after 1"}])
        start = since or end - timedelta(days=REPORT_DAYS)
        async with ctx.storage.transaction() as tx:
            return await alert_actions.report(tx, ctx.facility, start, end, audit=ctx.audit)
