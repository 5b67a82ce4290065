"""The migrations that add the one-admitted-stay and one-open-visit indexes, over data that earlier
races damaged, on both databases: beds held by discharged stays or by stays lying elsewhere are
freed (and a free bed goes back to the admitted stay lying in it); patients admitted twice, or with
two open visits, stop the upgrade with a message naming them, and nothing is half-applied."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.storage import migrate
from core.clock import utcnow
from core.errors import ConfigurationError
from core.ids import new_id
from host.runtime import Runtime
from host.settings import Settings
from plugins.hospital.tables import beds, stays, wards
from plugins.polyclinic.tables import visits
from tests.host.test_migrations import schema
from tests.support import ALL_MODULES

FAC, PINFL = "hosp-x", "12345678901234"


@asynccontextmanager
async def at(db_url: str, revision: str) -> AsyncIterator[tuple[AsyncEngine, dict[str, str]]]:
    """A database migrated up to ``revision`` of its branch (and what that needs), nothing more."""
    rt = Runtime.plan(Settings(database_url=db_url, modules=ALL_MODULES, run_relay=False))
    await rt.open()
    try:
        engine: AsyncEngine = rt.storage.engine  # type: ignore[attr-defined]
        locations = rt.migration_locations()
        await migrate.upgrade(engine, locations, revision)
        yield engine, locations
    finally:
        await rt.stop()


def stay(bed: UUID, ward: UUID, status: str = "admitted", pinfl: str = PINFL) -> dict[str, Any]:
    return {"id": new_id(), "facility": FAC, "patient_id": new_id(), "pinfl": pinfl, "status": status,
            "emergency": True, "admission_diagnosis": "J18.9", "ward_id": ward, "bed_id": bed,
            "admitted_at": utcnow(), "admitted_by": new_id()}


async def held(engine: AsyncEngine) -> dict[str, UUID | None]:
    async with engine.connect() as conn:
        return {r.label: r.stay_id for r in await conn.execute(select(beds.c.label, beds.c.stay_id))}


async def test_damaged_beds_are_repaired_before_the_stay_index(db_url: str) -> None:
    async with at(db_url, "k0001") as (engine, locations):
        ward = new_id()
        bed = {label: new_id() for label in "ABCDE"}
        gone = stay(bed["A"], ward, "discharged", pinfl="1" * 14)  # discharged, still holds A
        moved = stay(bed["C"], ward, pinfl="2" * 14)  # lies in C, still holds B; C is free
        fine = stay(bed["D"], ward, pinfl="3" * 14)
        lost = stay(bed["E"], ward, pinfl="4" * 14)  # lies in E, which holds nobody
        holder = {"A": gone["id"], "B": moved["id"], "C": None, "D": fine["id"], "E": None}
        async with engine.begin() as conn:
            await conn.execute(wards.insert().values(id=ward, facility=FAC, name="W", profile="general"))
            await conn.execute(beds.insert(), [{"id": bed[k], "ward_id": ward, "facility": FAC, "label": k,
                                                "stay_id": holder[k]} for k in bed])
            await conn.execute(stays.insert(), [gone, moved, fine, lost])
        await migrate.upgrade(engine, locations, "k0002")
        assert await held(engine) == {"A": None, "B": None, "C": moved["id"], "D": fine["id"], "E": lost["id"]}
        assert "uq_hospital_stays_admitted" in (await schema(engine))["hospital_stays"][1]


async def test_a_patient_admitted_twice_stops_the_upgrade_until_a_stay_is_discharged(db_url: str) -> None:
    async with at(db_url, "k0001") as (engine, locations):
        ward, first_bed, second_bed = new_id(), new_id(), new_id()
        first, second = stay(first_bed, ward), stay(second_bed, ward)
        async with engine.begin() as conn:
            await conn.execute(stays.insert(), [first, second])
        with pytest.raises(ConfigurationError) as refused:
            await migrate.upgrade(engine, locations, "k0002")
        assert str(first["id"]) in str(refused.value) and str(second["id"]) in str(refused.value)
        assert "discharge" in str(refused.value)
        assert "k0001" in await migrate.current(engine)  # nothing half-applied
        assert "uq_hospital_stays_admitted" not in (await schema(engine))["hospital_stays"][1]
        async with engine.begin() as conn:  # what the clinician's discharge does to the row
            await conn.execute(update(stays).where(stays.c.id == second["id"]).values(status="discharged"))
        await migrate.upgrade(engine, locations, "k0002")
        assert "uq_hospital_stays_admitted" in (await schema(engine))["hospital_stays"][1]


async def test_two_open_visits_of_one_patient_stop_the_upgrade_until_one_is_closed(db_url: str) -> None:
    async with at(db_url, "p0002") as (engine, locations):
        rows = [{"id": new_id(), "facility": "poly-x", "patient_id": new_id(), "pinfl": PINFL,
                 "doctor": new_id(), "status": "open", "opened_at": utcnow()} for _ in range(2)]
        other = {**rows[0], "id": new_id(), "pinfl": "9" * 14}  # one open visit: fine
        async with engine.begin() as conn:
            await conn.execute(visits.insert(), [*rows, other])
        with pytest.raises(ConfigurationError) as refused:
            await migrate.upgrade(engine, locations, "p0003")
        text = str(refused.value)
        assert all(str(r["id"]) in text for r in rows) and str(other["id"]) not in text
        assert "p0002" in await migrate.current(engine)
        async with engine.begin() as conn:
            await conn.execute(update(visits).where(visits.c.id == rows[0]["id"]).values(status="closed"))
        await migrate.upgrade(engine, locations, "p0003")
        assert "uq_polyclinic_visits_open" in (await schema(engine))["polyclinic_visits"][1]
