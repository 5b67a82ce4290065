"""Expiry: derived on read from ``valid_until``, and made durable (with an event) by the sweep."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from adapters.storage.tables import outbox
from core.clock import utcnow
from host.settings import Settings
from plugins.erecipe.lifecycle import effective
from plugins.erecipe.tables import prescriptions
from tests.erecipe.rx import PATIENT, actor, cancel, dispense, issued, item, seed, settings_for
from tests.support import opened, serving


def test_status_is_derived_from_validity() -> None:
    now = utcnow()
    assert effective("issued", now - timedelta(seconds=1), now) == "expired"
    assert effective("partially_dispensed", now, now) == "expired"
    assert effective("issued", now + timedelta(seconds=1), now) == "issued"
    assert effective("cancelled", now - timedelta(days=1), now) == "cancelled"


async def _backdate(s: Settings, rx: dict[str, Any]) -> None:
    async with opened(s) as rt, rt.storage.transaction() as tx:
        await tx.execute(update(prescriptions).where(prescriptions.c.id == UUID(rx["id"]))
                         .values(valid_until=utcnow() - timedelta(minutes=1)))


async def test_expired_is_refused_and_swept_once(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with serving(s) as client:
        doctor = await actor(client, signer, "doctor")
        pharmacist = await actor(client, signer, "pharmacist")
        rx = await issued(doctor)
        keep = await issued(doctor)
        assert (await dispense(pharmacist, rx["number"], [item(quantity=1)])).status_code == 201
    await _backdate(s, rx)
    async with opened(s) as rt:
        expiry = rt.services["erecipe.expiry"]
        assert await expiry.sweep() == 1
        assert await expiry.sweep() == 0  # already stored: no second event
        async with rt.storage.transaction(readonly=True) as tx:
            events = [r.event_type for r in await tx.execute(
                select(outbox.c.event_type).where(outbox.c.event_type == "erecipe.expired"))]
    assert events == ["erecipe.expired"]
    async with serving(s) as client:
        doctor = await actor(client, signer, "doctor")
        pharmacist = await actor(client, signer, "pharmacist")
        r = await dispense(pharmacist, rx["number"], [item(quantity=1)])
        assert r.status_code == 409 and "expired" in r.json()["detail"]
        assert (await cancel(doctor, rx)).status_code == 409
        full = (await doctor.get(f"/prescriptions/{rx['id']}")).json()
        assert full["status"] == "expired" and full["history"][-1]["status"] == "expired"
        active = (await pharmacist.get("/dispensing/", pinfl=PATIENT)).json()
        assert [a["number"] for a in active] == [keep["number"]]


async def test_expired_before_the_sweep_is_refused(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with serving(s) as client:
        rx = await issued(await actor(client, signer, "doctor"))
    await _backdate(s, rx)
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        stored = (await tx.execute(select(prescriptions.c.status).where(
            prescriptions.c.id == UUID(rx["id"])))).scalar_one()
    assert stored == "issued"  # nobody swept yet
    async with serving(s) as client:
        pharmacist = await actor(client, signer, "pharmacist")
        r = await dispense(pharmacist, rx["number"], [item(quantity=1)])
        assert r.status_code == 409 and "expired" in r.json()["detail"]
