"""The calendar page: the operator's override days (announced after the ``holidays`` package's
calendar: a day off or a working day), with add and remove.

Adding and removing are the JSON routes' own operations (``host.operator.overrides``: the same
upsert, the same conditional delete, the same ``operator.calendar/override`` and
``operator.calendar/override-remove`` audit entries).
"""

from __future__ import annotations

from datetime import date

from litestar import get, post
from litestar.response import Redirect, Template
from sqlalchemy import select

from core.errors import ShifoError, ValidationFailed
from host.console_web.pages import Req, form, op, page, redirect
from host.operator import overrides as overrides_service
from host.operator.tables import calendar_overrides
from host.operator.web import entry, runtime, who

HOME = "/console/calendar"


async def _show(request: Req, *, status: int = 200, error: str | None = None) -> Template:
    async with runtime(request).storage.transaction(readonly=True) as tx:
        rows = (await tx.execute(select(calendar_overrides).order_by(calendar_overrides.c.day))).all()
    return page(request, "calendar.html.j2", nav="calendar", status=status, error=error, overrides=rows)


@get("/calendar", opt=op("calendar", "read"), include_in_schema=False)
async def overrides(request: Req) -> Template:
    return await _show(request)


def _day(raw: object) -> date:
    try:
        return date.fromisoformat(str(raw or ""))
    except ValueError:
        raise ValidationFailed("the day is not a date (YYYY-MM-DD)",
                               errors=[{"field": "day", "message": "not a date"}]) from None


@post("/calendar/add", opt=op("calendar", "manage"), include_in_schema=False)
async def add(request: Req) -> Template | Redirect:
    data = await form(request)
    try:
        reason = str(data.get("reason") or "").strip()
        if not 0 < len(reason) <= 300:
            raise ValidationFailed("say why, in 1 to 300 characters",
                                   errors=[{"field": "reason", "message": "1 to 300 characters"}])
        await overrides_service.set_day(runtime(request).storage, _day(data.get("day")),
                                        data.get("working") == "1", reason, by=who(request),
                                        audited=entry(request, "calendar/override"))
    except ShifoError as exc:
        return await _show(request, status=exc.status, error=exc.detail)
    return redirect(HOME, "Day saved.")


@post("/calendar/remove", opt=op("calendar", "manage"), include_in_schema=False)
async def remove(request: Req) -> Template | Redirect:
    data = await form(request)
    try:
        await overrides_service.remove_day(runtime(request).storage, _day(data.get("day")),
                                           audited=entry(request, "calendar/override-remove"))
    except ShifoError as exc:
        return await _show(request, status=exc.status, error=exc.detail)
    return redirect(HOME, "Day removed.")


HANDLERS = [overrides, add, remove]
