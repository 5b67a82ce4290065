"""The installation requests board: a column per state, a card per request with its due date on
the Uzbek working-day calendar and the working days left; the moves the API allows, as forms.

Every action is the JSON route's own service call (:func:`host.operator.installations.move` and
``apply`` in one :func:`ports.conflicts.run_unit`, with ``host.operator.web.entry``: the same
``operator.installation/<state>`` audit entry). Enabling and disabling a module at a facility are
the ``installed`` ⇄ ``disabled`` moves, as in the API. A refused action (409, 422, 404) shows the
board again with the reason and that status, nothing changed.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import msgspec
from litestar import get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy import select

from core import clock
from core.errors import ShifoError, ValidationFailed
from host.console_web.pages import Req, form, op, page, redirect
from host.operator import calendar, config, installations
from host.operator.web import entry, runtime, who
from host.tables import facilities
from ports.conflicts import run_unit

HOME = "/console/requests"
STATES = ("applied", "in_progress", "installed", "disabled", "rejected")
OPEN = ("applied", "in_progress")
TARGETS = frozenset({"in_progress", "installed", "rejected", "disabled"})  # the API's Transition.state


class Card(msgspec.Struct, frozen=True, kw_only=True):
    item: installations.Installation
    facility_name: str
    region: str
    days_left: int | None  # working days from today to the due date; open requests only
    flag: str  # "overdue" | "due-soon" | "" (a CSS class)
    moves: list[str]


async def _board(request: Req) -> dict[str, Any]:
    rt = runtime(request)
    cfg, today = config.of(rt.settings), clock.utcnow().date()
    async with rt.storage.transaction(readonly=True) as tx:
        cal = await calendar.load(tx, cfg.week_days)
        items = await installations.listing(tx)
        places = {r.id: r for r in await tx.execute(
            select(facilities.c.id, facilities.c.name, facilities.c.region).order_by(facilities.c.id))}
    columns: dict[str, list[Card]] = {s: [] for s in STATES}
    for item in items:
        left = cal.working_days_between(today, item.due_on) if item.state in OPEN else None
        flag = "" if left is None else "overdue" if today > item.due_on else (
            "due-soon" if left <= cfg.due_soon_working_days else "")
        place = places.get(item.facility)
        columns.setdefault(item.state, []).append(Card(
            item=item, facility_name=place.name if place else item.facility,
            region=place.region if place else "", days_left=left, flag=flag,
            moves=sorted(installations.MOVES.get(item.state, set()))))
    return {"columns": columns, "states": STATES, "needs_reason": installations.NEEDS_REASON,
            "facilities": list(places.values()), "modules": rt.modules.names, "today": today}


async def _show(request: Req, *, status: int = 200, error: str | None = None) -> Template:
    return page(request, "installations.html.j2", nav="requests", status=status, error=error,
                **await _board(request))


@get("/requests", opt=op("installation", "read"), include_in_schema=False)
async def board(request: Req) -> Template:
    return await _show(request)


@post("/requests/{iid:uuid}/move", opt=op("installation", "manage"), include_in_schema=False)
async def move(request: Req, iid: FromPath[UUID]) -> Template | Redirect:
    """The console's ``POST /api/v1/operator/installations/{id}/transition``."""
    data = await form(request)
    state, reason = str(data.get("state") or ""), str(data.get("reason") or "").strip() or None
    rt = runtime(request)
    try:
        if state not in TARGETS:
            raise ValidationFailed(f"no such state {state!r}",
                                   errors=[{"field": "state", "message": "unknown"}])
        if reason and len(reason) > 500:
            raise ValidationFailed("the reason is longer than 500 characters",
                                   errors=[{"field": "reason", "message": "too long"}])
        await run_unit(rt.storage, lambda tx: installations.move(
            tx, iid, state, reason=reason, by=who(request), entry=entry(request, f"installation/{state}")))
    except ShifoError as exc:
        return await _show(request, status=exc.status, error=exc.detail)
    finally:
        rt.installations_changed()
    return redirect(HOME, "Request moved.")


@post("/requests/apply", opt=op("installation", "manage"), include_in_schema=False)
async def apply(request: Req) -> Template | Redirect:
    """The console's ``POST /api/v1/operator/installations``, one module per form."""
    data = await form(request)
    rt = runtime(request)
    cfg = config.of(rt.settings)
    try:
        try:
            applied_on = date.fromisoformat(str(data.get("applied_on") or ""))
        except ValueError:
            raise ValidationFailed("the request date is not a date (YYYY-MM-DD)",
                                   errors=[{"field": "applied_on", "message": "not a date"}]) from None
        await run_unit(rt.storage, lambda tx: installations.apply(
            tx, facility=str(data.get("facility") or ""), modules=[str(data.get("module") or "")],
            applied_on=applied_on, known=rt.modules.names, by=who(request), week_days=cfg.week_days,
            due_days=cfg.due_working_days, entry=entry(request, "installation/apply")))
    except ShifoError as exc:
        return await _show(request, status=exc.status, error=exc.detail)
    return redirect(HOME, "Application recorded.")


HANDLERS = [board, move, apply]
