"""A signed dispense is used once: sent again, later or at the same moment, it answers 409 and
dispenses nothing; so does the older form without a ``dispense_id``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from uuid import uuid4

from tests.erecipe.rx import (
    Actor,
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


async def _remaining(pharmacist: Actor, number: str) -> int:
    return int((await pharmacist.get("/dispensing/", number=number)).json()[0]["lines"][0]["remaining"])


async def test_a_replayed_dispense_is_refused(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with concurrent_client(s) as client:
        doctor = await actor(client, signer, "doctor")
        pharmacist = await actor(client, signer, "pharmacist")
        rx = await issued(doctor, lines=[line(quantity=40)])
        number, items = rx["number"], [item(quantity=5)]

        did = str(uuid4())
        signed = await pharmacist.sign(dispense_content(number, items, did))
        first = await dispense(pharmacist, number, items, signed, did)
        assert first.status_code == 201 and first.json()["id"] == did, first.text
        again = await dispense(pharmacist, number, items, signed, did)
        assert again.status_code == 409 and "already used" in again.json()["detail"], again.text
        assert again.headers["content-type"].startswith("application/problem+json")
        assert await _remaining(pharmacist, number) == 35
        other_id = await dispense(pharmacist, number, items, signed, str(uuid4()))
        assert other_id.status_code == 422  # the id is signed: another one breaks the signature

        legacy = await pharmacist.sign(dispense_content(number, items))  # the older form, no dispense_id
        codes = [(await dispense(pharmacist, number, items, legacy)).status_code for _ in range(2)]
        assert codes == [201, 409] and await _remaining(pharmacist, number) == 30

        async def copies(what: list[dict[str, Any]], dispense_id: str | None) -> list[Any]:
            signature = await pharmacist.sign(dispense_content(number, what, dispense_id))
            return list(await asyncio.gather(*(dispense(pharmacist, number, what, signature, dispense_id)
                                               for _ in range(10))))
        raced = await copies(items, str(uuid4()))
        # (an identical legacy dispense signed in the same second would count as a replay of the first)
        raced_legacy = await copies([item(quantity=4)], None)
        for answers in (raced, raced_legacy):
            assert sorted(r.status_code for r in answers) == [201] + [409] * 9
        assert await _remaining(pharmacist, number) == 21
        history = (await doctor.get(f"/prescriptions/{rx['id']}")).json()["history"]
        assert sum(h["status"] == "partially_dispensed" for h in history) == 4
