"""Partial dispenses of one prescription at once, with uneven amounts over two lines: whatever
wins, the sum dispensed of each line never exceeds the prescribed quantity, every 201 is counted in
what remains, the others answer 409 (never a 5xx), and the last units go exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

from tests.erecipe.rx import (
    NUROFEN,
    actor,
    concurrent_client,
    dispense,
    dispense_content,
    issued,
    item,
    line,
    seed,
    settings_for,
)
from tests.races import no_5xx


async def test_uneven_partial_dispenses_never_overdraw_a_line(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with concurrent_client(s) as client:
        doctor = await actor(client, signer, "doctor")
        pharmacist = await actor(client, signer, "pharmacist")
        rx = await issued(doctor, lines=[line(quantity=20), line(inn="Ibuprofen", form="tablet", strength="400 mg", quantity=10)])

        async def wave(items: list[dict[str, object]], n: int) -> list[int]:
            signed = []
            for _ in range(n):  # signed before the race, to make it tight
                did = str(uuid4())
                signed.append((did, await pharmacist.sign(dispense_content(rx["number"], items, did))))
            return no_5xx(await asyncio.gather(*(dispense(pharmacist, rx["number"], items, sig, did)
                                                 for did, sig in signed)))

        both = [item(1, 7), item(2, 3, medicine=NUROFEN)]
        codes = await wave(both, 8)  # line 1 holds two of these (14 of 20), line 2 three (9 of 10)
        assert sorted(codes) == [201] * 2 + [409] * 6, codes
        state = (await doctor.get(f"/prescriptions/{rx['id']}")).json()
        assert [ln["remaining"] for ln in state["lines"]] == [20 - 14, 10 - 6], state["lines"]
        codes = await wave([item(1, 6)], 6)  # the last six units of line 1 go once
        assert sorted(codes) == [201] + [409] * 5, codes
        state = (await doctor.get(f"/prescriptions/{rx['id']}")).json()
        assert [ln["remaining"] for ln in state["lines"]] == [0, 4], state["lines"]
