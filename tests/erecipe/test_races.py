"""Concurrent conflicting transitions of a prescription, beside the dispense race of
test_concurrency.py: issuing one draft many times at once, and cancelling while it is dispensed.
One winner, the others 409, never a 5xx, and the stored state matches the winner."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from uuid import uuid4

from core.canonical import canonical_json
from tests.erecipe.rx import (
    MORPHINE,
    actor,
    concurrent_client,
    dispense,
    dispense_content,
    draft_body,
    issued,
    item,
    line,
    morphine,
    seed,
    settings_for,
)
from tests.races import no_5xx


async def test_one_draft_issued_ten_times_at_once(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with concurrent_client(s) as client:
        doctor = await actor(client, signer, "doctor")
        d = (await doctor.post("/prescriptions/drafts", draft_body(lines=[line(), line(inn="Ibuprofen", form="tablet", strength="400 mg")]))).json()
        signature = await doctor.sign(base64.b64decode(d["canonical"]))
        answers = await asyncio.gather(*(doctor.post(f"/prescriptions/{d['id']}/issue", {
            "signature": signature, "content": d["canonical"]}) for _ in range(10)))
        codes = no_5xx(answers)
        assert sorted(codes) == [200] + [409] * 9, codes
        rx = (await doctor.get(f"/prescriptions/{d['id']}")).json()
        assert rx["status"] == "issued" and [ln["remaining"] for ln in rx["lines"]] == [21, 21]
        assert [h["status"] for h in rx["history"]] == ["draft", "issued"]


async def test_cancel_racing_a_whole_dispense(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with concurrent_client(s) as client:
        doctor = await actor(client, signer, "doctor")
        pharmacist = await actor(client, signer, "pharmacist")
        for _ in range(5):
            rx = await issued(doctor, category="controlled", lines=[morphine(quantity=10)])
            reason = "allergy reported"
            cancel_sig = await doctor.sign(canonical_json({"action": "cancel", "number": rx["number"],
                                                           "reason": reason}))
            signed = []
            for _ in range(3):
                did = str(uuid4())
                sig = await pharmacist.sign(dispense_content(rx["number"], [item(quantity=10, medicine=MORPHINE)],
                                                             did))
                signed.append((did, sig))
            answers = await asyncio.gather(
                doctor.post(f"/prescriptions/{rx['id']}/cancel", {"reason": reason, "signature": cancel_sig}),
                *(dispense(pharmacist, rx["number"], [item(quantity=10, medicine=MORPHINE)], sig, did)
                  for did, sig in signed))
            codes = no_5xx(answers)
            assert len([c for c in codes if c in (200, 201)]) == 1, codes  # cancelled, or dispensed once
            final = (await doctor.get(f"/prescriptions/{rx['id']}")).json()
            assert final["status"] == ("cancelled" if codes[0] == 200 else "dispensed"), (codes, final)
            assert [ln["remaining"] for ln in final["lines"]] == [10 if codes[0] == 200 else 0]
