"""Concurrent dispenses of one prescription: never more than prescribed, on both databases."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from uuid import UUID, uuid4

from sqlalchemy import func, select

from core.clock import utcnow
from core.errors import Conflict
from plugins.erecipe import dispensing
from plugins.erecipe.schema import DispenseItem
from plugins.erecipe.tables import dispenses, lines
from tests.erecipe.rx import (
    AMOXIL,
    MORPHINE,
    actor,
    concurrent_client,
    dispense,
    dispense_content,
    issued,
    item,
    line,
    morphine,
    seed,
    settings_for,
)
from tests.support import opened, serving

ATTEMPTS = 50


async def test_fifty_dispenses_at_once(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with concurrent_client(s) as client:
        doctor = await actor(client, signer, "doctor")
        pharmacist = await actor(client, signer, "pharmacist")
        single = await issued(doctor, category="controlled", lines=[morphine(quantity=10)])
        partial = await issued(doctor, lines=[line(quantity=20)])
        # Signed before the race, to make it tight: 50 distinct signed dispenses of each prescription
        # (a signed dispense is used once, so each attempt is a dispense of its own).
        signed = {rx["number"]: [(did, await pharmacist.sign(dispense_content(rx["number"], [it], did)))
                                 for did in (str(uuid4()) for _ in range(ATTEMPTS))]
                  for rx, it in ((single, item(quantity=10, medicine=MORPHINE)), (partial, item(quantity=1)))}
        whole = await asyncio.gather(*(dispense(pharmacist, single["number"], [item(quantity=10, medicine=MORPHINE)],
                                                sig, did)
                                       for did, sig in signed[single["number"]]))
        parts = await asyncio.gather(*(dispense(pharmacist, partial["number"], [item(quantity=1)], sig, did)
                                       for did, sig in signed[partial["number"]]))
    codes = sorted(r.status_code for r in whole)
    assert codes == [201] + [409] * (ATTEMPTS - 1), codes
    codes = sorted(r.status_code for r in parts)
    assert codes == [201] * 20 + [409] * (ATTEMPTS - 20), codes
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        for rx, expected in ((single, 1), (partial, 20)):
            rid = UUID(rx["id"])
            count = (await tx.execute(select(func.count()).select_from(dispenses)
                                      .where(dispenses.c.prescription_id == rid))).scalar_one()
            left = (await tx.execute(select(lines.c.remaining)
                                     .where(lines.c.prescription_id == rid))).scalar_one()
            assert (count, left) == (expected, 0)


async def test_fifty_transactions_race_on_the_rows(db_url: str, tmp_path: Path) -> None:
    """The same race below HTTP: 50 transactions at once, each past the signature check already."""
    s = settings_for(db_url, tmp_path / "keys").with_(pool_size=8)
    signer = await seed(s)
    async with serving(s) as client:
        rx = await issued(await actor(client, signer, "doctor"), lines=[line(quantity=20)])
    items = [DispenseItem(line=1, medicine=AMOXIL, quantity=3, batch="B1", expiry=date(2099, 1, 1))]
    async with opened(s) as rt:
        async def one() -> int:
            try:
                async with rt.storage.transaction() as tx:
                    await dispensing.dispense(tx, rx["number"], items, by=uuid4(), facility="PH",
                                              now=utcnow(), canonical=b"{}", signature=b"sig", verification={})
                return 201
            except Conflict:
                return 409
        codes = await asyncio.gather(*(one() for _ in range(ATTEMPTS)))
        async with rt.storage.transaction(readonly=True) as tx:
            left = (await tx.execute(select(lines.c.remaining)
                                     .where(lines.c.prescription_id == UUID(rx["id"])))).scalar_one()
    assert sorted(codes) == [201] * 6 + [409] * (ATTEMPTS - 6) and left == 2  # 6 x 3 of 20
