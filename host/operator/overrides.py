"""Calendar override days: days announced after the ``holidays`` package's calendar (a day off or
a working day). One implementation for the JSON routes and the console, each change audited in
its own unit. Due dates already promised stay as they are; new applications use the calendar as
it is then."""

from __future__ import annotations

from datetime import date

import msgspec
from sqlalchemy import delete, select, update

from core import clock
from core.errors import Conflict
from host import audit
from host.operator.tables import calendar_overrides
from ports.conflicts import run_unit
from ports.storage import Storage, Transaction


async def set_day(storage: Storage, day: date, working: bool, reason: str, *, by: str,
                  audited: audit.AuditEntry) -> None:
    """Update the day's row, else insert it; an insert that loses to a concurrent set of the same
    day is re-run whole and then updates (the last commit stays)."""

    async def work(tx: Transaction) -> None:
        values = {"working": working, "reason": reason, "set_by": by, "set_at": clock.utcnow()}
        there = await tx.execute(update(calendar_overrides).where(calendar_overrides.c.day == day)
                                 .values(values))
        if there.rowcount == 0:
            await tx.execute(calendar_overrides.insert().values(day=day, **values))
        await audit.record(tx, msgspec.structs.replace(
            audited, object=day.isoformat(), detail=f"{'working' if working else 'day off'}: {reason}"))

    await run_unit(storage, work)


async def remove_day(storage: Storage, day: date, *, audited: audit.AuditEntry) -> None:
    """Delete the day's row as read (changed or removed meanwhile: 409), audited with what it was."""

    async def work(tx: Transaction) -> None:
        row = (await tx.execute(select(calendar_overrides).where(calendar_overrides.c.day == day))).first()
        if row is None:
            raise Conflict(f"{day} has no override day (removed meanwhile?)")
        gone = await tx.execute(delete(calendar_overrides).where(
            calendar_overrides.c.day == day, calendar_overrides.c.working == row.working,
            calendar_overrides.c.reason == row.reason))
        if gone.rowcount != 1:
            raise Conflict(f"{day} was changed meanwhile; look again")
        was = "working" if row.working else "day off"
        await audit.record(tx, msgspec.structs.replace(
            audited, object=day.isoformat(), detail=f"was {was}: {row.reason}"))

    await run_unit(storage, work)
