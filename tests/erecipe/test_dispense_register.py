"""Dispensing against the register: the product must be the line's (same INN, form and strength; a
generic substitute is fine, Tramadol for Amoxicillin is not), a scanned GS1 DataMatrix is parsed
(group separators and all), an expired pack is refused, and a marked pack's serial sells once."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path

from tests.erecipe.rx import (
    AMOXIL,
    MORPHINE,
    TRAMAL,
    actor,
    dispense,
    issued,
    item,
    line,
    morphine,
    seed,
    settings_for,
)
from tests.support import serving

GS = "\x1d"
SANDOZ = "4781000020262"  # Amoxicillin Sandoz 500 mg capsule: a generic of Amoxil


def scan(gtin: str, serial: str, expiry: date, batch: str = "L42") -> str:
    """A GS1 DataMatrix's text: fixed-length AIs first, variable ones ended by the group separator."""
    return f"01{gtin.rjust(14, '0')}17{expiry:%y%m%d}10{batch}{GS}21{serial}"


async def test_the_product_handed_out_is_the_lines(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    later = date.today() + timedelta(days=300)
    async with serving(s) as client:
        doctor = await actor(client, signer, "doctor")
        pharmacist = await actor(client, signer, "pharmacist")
        rx = await issued(doctor, lines=[line(quantity=21)])  # Amoxicillin 500 mg capsule
        number = rx["number"]

        r = await dispense(pharmacist, number, [item(quantity=5, medicine=TRAMAL)])
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
        assert "Tramal is Tramadol 50 mg capsule" in r.json()["detail"] and "same INN" in r.json()["detail"]
        r = await dispense(pharmacist, number, [item(quantity=5, medicine="Amoxicillin 250 mg, any")])
        assert r.status_code == 422 and "not in the medicines register" in r.json()["detail"]
        r = await dispense(pharmacist, number, [item(quantity=5, medicine=SANDOZ)])  # generic substitution
        assert r.status_code == 201 and r.json()["lines"][0]["remaining"] == 16, r.text

        packed = scan(AMOXIL, "SER-0001", later)
        r = await dispense(pharmacist, number, [{"line": 1, "quantity": 5, "scan": packed}])
        assert r.status_code == 201 and r.json()["lines"][0]["remaining"] == 11, r.text
        steps = (await doctor.get(f"/prescriptions/{rx['id']}")).json()["history"]
        kept = steps[-1]["detail"]["items"][0]
        assert (kept["gtin"], kept["serial"], kept["batch"], kept["expiry"], kept["medicine"]) == (
            "0" + AMOXIL, "SER-0001", "L42", later.isoformat(), "Amoxil")

        again = await dispense(pharmacist, number, [{"line": 1, "quantity": 5, "scan": packed}])
        assert again.status_code == 409 and "SER-0001" in again.json()["detail"]  # a marked pack sells once
        for bad, words in ((scan(AMOXIL, "SER-0002", date.today() - timedelta(days=1)), "expired"),
                           ("not a datamatrix at all", "GS1"),
                           (scan(TRAMAL, "SER-0003", later), "same INN")):
            r = await dispense(pharmacist, number, [{"line": 1, "quantity": 5, "scan": bad}])
            assert r.status_code == 422 and words in r.json()["detail"], (bad, r.text)
        r = await dispense(pharmacist, number, [{"line": 1, "quantity": 5, "scan": scan(AMOXIL, "S4", later),
                                                 "batch": "other"}])
        assert r.status_code == 422 and "send the scan alone" in r.json()["detail"]
        state = (await doctor.get(f"/prescriptions/{rx['id']}")).json()
        assert state["lines"][0]["remaining"] == 11  # the refused dispenses took nothing

        other = await issued(doctor, lines=[line(quantity=21)])  # one new pack sold at two counters at once
        same = {"line": 1, "quantity": 5, "scan": scan(AMOXIL, "SER-RACE", later)}
        raced = await asyncio.gather(dispense(pharmacist, number, [same]),
                                     dispense(pharmacist, other["number"], [same]))
        assert sorted(r.status_code for r in raced) == [201, 409], [r.text for r in raced]

        controlled = await issued(doctor, category=None, lines=[morphine(quantity=10)])  # follows: controlled
        assert controlled["category"] == "controlled"
        r = await dispense(pharmacist, controlled["number"], [item(quantity=10, medicine=AMOXIL)])
        assert r.status_code == 422 and "Amoxil is Amoxicillin" in r.json()["detail"]
        r = await dispense(pharmacist, controlled["number"], [
            {"line": 1, "quantity": 10, "scan": f"]d2{scan(MORPHINE, 'M-77', later)}"}])  # with the symbology id
        assert r.status_code == 201 and r.json()["status"] == "dispensed", r.text
