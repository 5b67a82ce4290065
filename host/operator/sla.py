"""The installation SLA: requests on time, overdue and due soon, per period and per region.

A request is judged against its due date (15 working days after applying): installed by then is
on time, installed later is late; an open one past it is overdue, one within a few working days of
it is due soon. Rejected requests are not counted. Overdue requests are listed by name.
"""

from __future__ import annotations

from datetime import date

import msgspec
from sqlalchemy import select

from host.operator.calendar import WorkingCalendar
from host.operator.installations import Installation, to_installation
from host.operator.tables import installations
from host.tables import facilities
from ports.storage import Transaction

OPEN = ("applied", "in_progress")


class RegionLine(msgspec.Struct, kw_only=True):
    region: str
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    due_soon: int = 0
    open_on_track: int = 0


class SlaReport(msgspec.Struct, kw_only=True):
    period_from: date | None
    period_to: date | None
    today: date
    regions: list[RegionLine]
    overdue: list[Installation]


def judge(item: Installation, today: date, cal: WorkingCalendar, soon: int) -> str | None:
    if item.state in OPEN:
        if today > item.due_on:
            return "overdue"
        return "due_soon" if cal.working_days_between(today, item.due_on) <= soon else "open_on_track"
    if item.installed_on is not None:
        return "on_time" if item.installed_on <= item.due_on else "late"
    return None


async def report(tx: Transaction, cal: WorkingCalendar, today: date, *, soon: int = 3,
                 period_from: date | None = None, period_to: date | None = None,
                 region: str | None = None) -> SlaReport:
    stmt = select(installations, facilities.c.region).join(
        facilities, facilities.c.id == installations.c.facility)
    if period_from:
        stmt = stmt.where(installations.c.applied_on >= period_from)
    if period_to:
        stmt = stmt.where(installations.c.applied_on <= period_to)
    if region:
        stmt = stmt.where(facilities.c.region == region)
    lines: dict[str, RegionLine] = {}
    overdue: list[Installation] = []
    for row in await tx.execute(stmt.order_by(installations.c.due_on)):
        item = to_installation(row)
        verdict = judge(item, today, cal, soon)
        if verdict is None:
            continue
        line = lines.setdefault(row.region, RegionLine(region=row.region))
        setattr(line, verdict, getattr(line, verdict) + 1)
        if verdict == "overdue":
            overdue.append(item)
    return SlaReport(period_from=period_from, period_to=period_to, today=today,
                     regions=sorted(lines.values(), key=lambda r: r.region), overdue=overdue)


async def due_soon_count(tx: Transaction, cal: WorkingCalendar, today: date, soon: int) -> int:
    """Open requests not yet overdue but within ``soon`` working days of their due date."""
    rows = await tx.execute(select(installations.c.due_on).where(
        installations.c.state.in_(OPEN), installations.c.due_on >= today))
    return sum(1 for (due,) in rows if cal.working_days_between(today, due) <= soon)


async def overdue_count(tx: Transaction, today: date) -> int:
    rows = await tx.execute(select(installations.c.id).where(
        installations.c.state.in_(OPEN), installations.c.due_on < today))
    return len(rows.all())
