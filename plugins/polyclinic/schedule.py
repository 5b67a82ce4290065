"""A doctor's schedule of slots and the appointment workflow: book, cancel, no-show, the queue.

Every transition is one conditional UPDATE on the slot's current status; a zero rowcount means
somebody else moved it first (or it never was in that state) and answers 409. That keeps a slot
from being double-booked on SQLite (one writer) and PostgreSQL (the row lock re-checks WHERE).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.clock import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.ids import new_id
from plugins.polyclinic.schema import Queue, ScheduleIn, Slot
from plugins.polyclinic.tables import slots
from ports.directory import PatientSummary
from ports.storage import Transaction

MAX_SLOTS = 200
TASHKENT = timezone(timedelta(hours=5))  # Uzbekistan keeps UTC+5 all year: a clinic's day


def to_slot(row: Any) -> Slot:
    return Slot(id=row.id, doctor=row.doctor, starts_at=row.starts_at, ends_at=row.ends_at,
                status=row.status, patient_id=row.patient_id, visit_id=row.visit_id)


async def create(tx: Transaction, facility: str, data: ScheduleIn) -> list[Slot]:
    if data.starts_at.tzinfo is None or data.ends_at.tzinfo is None:
        raise ValidationFailed("starts_at and ends_at need a timezone")
    step = timedelta(minutes=data.slot_minutes)
    count = int((data.ends_at - data.starts_at) / step)
    if count < 1 or count > MAX_SLOTS:
        raise ValidationFailed(f"the period must hold 1 to {MAX_SLOTS} slots of {data.slot_minutes} min")
    rows: list[dict[str, Any]] = [
        {"id": new_id(), "facility": facility, "doctor": data.doctor, "status": "free",
         "starts_at": data.starts_at + i * step, "ends_at": data.starts_at + (i + 1) * step}
        for i in range(count)]
    taken = (await tx.execute(select(slots.c.starts_at).where(
        slots.c.facility == facility, slots.c.doctor == data.doctor,
        slots.c.starts_at.in_([r["starts_at"] for r in rows])))).first()
    if taken is not None:
        raise Conflict(f"the doctor already has a slot at {taken.starts_at.isoformat()}")
    try:
        await tx.execute(slots.insert(), rows)
    except IntegrityError as exc:  # a concurrent schedule for the same times
        raise Conflict("the doctor already has slots in this period") from exc
    return [Slot(id=r["id"], doctor=data.doctor, starts_at=r["starts_at"], ends_at=r["ends_at"],
                 status="free") for r in rows]


async def get(tx: Transaction, facility: str, slot_id: UUID) -> Any:
    row = (await tx.execute(select(slots).where(slots.c.id == slot_id, slots.c.facility == facility))).first()
    if row is None:
        raise NotFound(f"no slot {slot_id} at this facility")
    return row


async def move(tx: Transaction, facility: str, slot_id: UUID, *, src: str, why: str,
               **values: Any) -> Any:
    """Move the slot from status ``src``; 409 saying ``why`` (and its status) if it was not there."""
    result = await tx.execute(update(slots).where(
        slots.c.id == slot_id, slots.c.facility == facility, slots.c.status == src).values(**values))
    if result.rowcount != 1:
        row = await get(tx, facility, slot_id)
        raise Conflict(f"{why}: the slot is {row.status}")
    return await get(tx, facility, slot_id)


async def book(tx: Transaction, facility: str, slot_id: UUID, patient: PatientSummary) -> Slot:
    row = await move(tx, facility, slot_id, src="free", why="cannot book", status="booked",
                     patient_id=patient.id, pinfl=patient.pinfl, booked_at=utcnow())
    return to_slot(row)


async def cancel(tx: Transaction, facility: str, slot_id: UUID) -> Slot:
    row = await move(tx, facility, slot_id, src="booked", why="cannot cancel", status="free",
                     patient_id=None, pinfl=None, booked_at=None)
    return to_slot(row)


async def no_show(tx: Transaction, facility: str, slot_id: UUID) -> Slot:
    row = await get(tx, facility, slot_id)
    if row.status == "booked" and row.starts_at > utcnow():
        raise Conflict("cannot mark a no-show before the appointment's time")
    return to_slot(await move(tx, facility, slot_id, src="booked", why="cannot mark a no-show",
                              status="no_show"))


async def queue(tx: Transaction, facility: str, doctor: UUID, day: date) -> Queue:
    start = datetime.combine(day, time.min, tzinfo=TASHKENT)
    rows = await tx.execute(select(slots).where(
        slots.c.facility == facility, slots.c.doctor == doctor, slots.c.starts_at >= start,
        slots.c.starts_at < start + timedelta(days=1)).order_by(slots.c.starts_at))
    return Queue(doctor=doctor, day=day, slots=[to_slot(r) for r in rows])
