"""Installation requests: applied → in_progress → installed | rejected, and installed ⇄ disabled.

Installing writes the ``facility_modules`` row in the same transaction, so the module is usable at
that facility from the next request; disabling stamps ``disabled_at`` (data stays, access stops).
Every change keeps who, when and why in ``installation_changes`` and in the audit trail.

Conflicts: a move is an UPDATE conditioned on the state read (0 rows: 409); an application first
locks its facility's row, so two applications for one facility and module cannot both pass the
"no open request" check. Lock order: the facility, then its requests, then ``facility_modules``.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import select, update

from core import clock
from core.errors import Conflict, NotFound, ValidationFailed
from core.ids import new_id
from host import audit
from host.operator import calendar
from host.operator.tables import installation_changes, installations
from host.tables import facilities, facility_modules
from ports.storage import Transaction

MOVES: dict[str, set[str]] = {
    "applied": {"in_progress", "rejected"},
    "in_progress": {"installed", "rejected"},
    "installed": {"disabled"},
    "disabled": {"installed"},
}
NEEDS_REASON = {"rejected", "disabled"}


class Installation(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    facility: str
    module: str
    applied_on: date
    due_on: date
    state: str
    reason: str | None
    installed_on: date | None
    updated_by: str


class Change(msgspec.Struct, frozen=True, kw_only=True):
    state: str
    reason: str | None
    at: Any
    by: str


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": field, "message": message}])


def to_installation(row: Any) -> Installation:
    return Installation(**{f: getattr(row, f) for f in Installation.__struct_fields__})


async def apply(tx: Transaction, *, facility: str, modules: list[str], applied_on: date, known: list[str],
                by: str, week_days: int = 5, due_days: int = calendar.DUE_WORKING_DAYS,
                entry: audit.AuditEntry) -> list[Installation]:
    """Record a facility's application for ``modules``; each is due ``due_days`` working days later."""
    held = await tx.execute(update(facilities).where(facilities.c.id == facility)  # the facility's lock
                            .values(name=facilities.c.name))
    if held.rowcount != 1:
        raise _invalid("facility", f"no facility {facility!r}")
    unknown = [m for m in modules if m not in known]
    if unknown or not modules:
        raise _invalid("modules", f"modules are some of {', '.join(known)}")
    cal = await calendar.load(tx, week_days)
    due, now, made = cal.due(applied_on, due_days), clock.utcnow(), []
    for module in dict.fromkeys(modules):
        open_ = await tx.execute(select(installations.c.id).where(
            installations.c.facility == facility, installations.c.module == module,
            installations.c.state.in_(("applied", "in_progress"))))
        if open_.first() is not None:
            raise Conflict(f"{facility} already has an open request for {module}")
        row: dict[str, Any] = {
               "id": new_id(), "facility": facility, "module": module, "applied_on": applied_on,
               "due_on": due, "state": "applied", "reason": None, "installed_on": None,
               "updated_at": now, "updated_by": by}
        await tx.execute(installations.insert().values(row))
        await _history(tx, row["id"], "applied", None, by, now)
        await audit.record(tx, msgspec.structs.replace(entry, object=f"{facility}/{module}",
                                                       facility=facility, detail=f"due {due}"))
        made.append(Installation(**{f: row[f] for f in Installation.__struct_fields__}))
    return made


async def move(tx: Transaction, installation: UUID, state: str, *, reason: str | None, by: str,
               entry: audit.AuditEntry) -> Installation:
    row = (await tx.execute(select(installations).where(installations.c.id == installation))).first()
    if row is None:
        raise NotFound(f"no installation request {installation}")
    if state not in MOVES.get(row.state, set()):
        raise Conflict(f"an installation that is {row.state} cannot become {state}")
    if state in NEEDS_REASON and not (reason or "").strip():
        raise _invalid("reason", f"say why the installation is {state}")
    now = clock.utcnow()
    values: dict[str, Any] = {"state": state, "reason": reason, "updated_at": now, "updated_by": by}
    if state == "installed":
        values["installed_on"] = now.date() if row.installed_on is None else row.installed_on
    moved = await tx.execute(update(installations).where(
        installations.c.id == installation, installations.c.state == row.state).values(values))
    if moved.rowcount != 1:
        raise Conflict("the installation request changed meanwhile; read it again")
    if state == "installed":
        await _enable(tx, row.facility, row.module, now)
    elif state == "disabled":
        await tx.execute(update(facility_modules).where(
            facility_modules.c.facility == row.facility, facility_modules.c.module == row.module)
            .values(disabled_at=now))
    await _history(tx, installation, state, reason, by, now)
    await audit.record(tx, msgspec.structs.replace(
        entry, object=f"{row.facility}/{row.module}", facility=row.facility,
        detail=f"{row.state}->{state}" + (f": {reason}" if reason else "")))
    done = (await tx.execute(select(installations).where(installations.c.id == installation))).one()
    return to_installation(done)


async def _enable(tx: Transaction, facility: str, module: str, now: Any) -> None:
    there = (await tx.execute(select(facility_modules.c.module).where(
        facility_modules.c.facility == facility, facility_modules.c.module == module))).first()
    if there is None:
        await tx.execute(facility_modules.insert().values(facility=facility, module=module, enabled_at=now))
    else:
        await tx.execute(update(facility_modules).where(
            facility_modules.c.facility == facility, facility_modules.c.module == module)
            .values(enabled_at=now, disabled_at=None))


async def _history(tx: Transaction, installation: UUID, state: str, reason: str | None, by: str,
                   at: Any) -> None:
    await tx.execute(installation_changes.insert().values(
        id=new_id(), installation=installation, state=state, reason=reason, at=at, by=by))


async def history(tx: Transaction, installation: UUID) -> list[Change]:
    rows = await tx.execute(select(installation_changes).where(
        installation_changes.c.installation == installation).order_by(installation_changes.c.at))
    return [Change(state=r.state, reason=r.reason, at=r.at, by=r.by) for r in rows]


async def listing(tx: Transaction, *, state: str | None = None, facility: str | None = None
                  ) -> list[Installation]:
    stmt = select(installations).order_by(installations.c.due_on, installations.c.facility)
    if state:
        stmt = stmt.where(installations.c.state == state)
    if facility:
        stmt = stmt.where(installations.c.facility == facility)
    return [to_installation(r) for r in await tx.execute(stmt)]
