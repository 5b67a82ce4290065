"""Wards and beds of a facility, and the census: beds occupied and free, patients admitted."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.errors import Conflict, ValidationFailed
from core.ids import new_id
from plugins.hospital.schema import Bed, Census, Ward, WardCensus, WardIn
from plugins.hospital.tables import beds, wards
from ports.storage import Transaction


async def create(tx: Transaction, facility: str, data: WardIn) -> Ward:
    if len(set(data.beds)) != len(data.beds):
        raise ValidationFailed("bed labels repeat", errors=[{"field": "beds", "message": "repeated label"}])
    taken = (await tx.execute(select(wards.c.id).where(wards.c.facility == facility,
                                                       wards.c.name == data.name))).first()
    if taken is not None:
        raise Conflict(f"the facility already has a ward named {data.name!r}")
    ward_id = new_id()
    made = [Bed(id=new_id(), label=label) for label in data.beds]
    try:
        await tx.execute(wards.insert().values(id=ward_id, facility=facility, name=data.name,
                                               profile=data.profile))
        await tx.execute(beds.insert(), [{"id": b.id, "ward_id": ward_id, "facility": facility,
                                          "label": b.label} for b in made])
    except IntegrityError as exc:  # the same ward created concurrently
        raise Conflict(f"the facility already has a ward named {data.name!r}") from exc
    return Ward(id=ward_id, name=data.name, profile=data.profile, beds=made)


async def all_of(tx: Transaction, facility: str) -> list[Ward]:
    rows = (await tx.execute(select(beds).where(beds.c.facility == facility).order_by(beds.c.label))).all()
    out = []
    for w in await tx.execute(select(wards).where(wards.c.facility == facility).order_by(wards.c.name)):
        mine = [Bed(id=b.id, label=b.label, stay_id=b.stay_id) for b in rows if b.ward_id == w.id]
        out.append(Ward(id=w.id, name=w.name, profile=w.profile, beds=mine))
    return out


async def bed(tx: Transaction, facility: str, bed_id: UUID) -> Any:
    row = (await tx.execute(select(beds).where(beds.c.id == bed_id, beds.c.facility == facility))).first()
    if row is None:
        detail = f"no bed {bed_id} at this facility"
        raise ValidationFailed(detail, errors=[{"field": "bed_id", "message": detail}])
    return row


async def lock(tx: Transaction, bed_ids: list[UUID]) -> None:
    """Lock several beds in id order, the one order every unit of work takes them in (PostgreSQL;
    SQLite admits one writer at a time anyway)."""
    await tx.execute(select(beds.c.id).where(beds.c.id.in_(bed_ids)).order_by(beds.c.id).with_for_update())


async def occupy(tx: Transaction, facility: str, bed_id: UUID, stay_id: UUID) -> Any:
    """Put the stay in the bed, or 409 if somebody lies there (checked and taken in one UPDATE)."""
    row = await bed(tx, facility, bed_id)
    result = await tx.execute(update(beds).where(beds.c.id == bed_id, beds.c.stay_id.is_(None))
                              .values(stay_id=stay_id))
    if result.rowcount != 1:
        raise Conflict(f"bed {row.label} is occupied")
    return row


async def release(tx: Transaction, bed_id: UUID, stay_id: UUID) -> None:
    await tx.execute(update(beds).where(beds.c.id == bed_id, beds.c.stay_id == stay_id).values(stay_id=None))


async def census(tx: Transaction, facility: str, admitted: list[Any]) -> Census:
    counts = []
    for w in await all_of(tx, facility):
        occupied = sum(1 for b in w.beds if b.stay_id is not None)
        counts.append(WardCensus(ward_id=w.id, name=w.name, beds=len(w.beds), occupied=occupied,
                                 free=len(w.beds) - occupied))
    return Census(wards=counts, admitted=admitted)


