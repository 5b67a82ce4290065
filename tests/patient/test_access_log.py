"""Who accessed my record: the doctor who read the card is listed by name, role and facility;
the patient's own reads are left out unless asked for (then marked ``own``); pages never repeat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.clinical import MEDCARD, signer_for
from tests.patient.world import PATIENT_API, build, seed, settings_for
from tests.support import serving


async def test_the_access_log_names_who_read_the_card(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path / "keys")
    await seed(settings, patients=2)
    async with serving(settings) as client:
        me, other = await build(client, signer_for(settings), patients=2)
        doc = me["headers"]["doctor"]
        assert (await client.get(f"{PATIENT_API}/card", headers=me["token"])).status_code == 200

        async def log(**params: Any) -> Any:
            r = await client.get(f"{PATIENT_API}/access-log", params=params, headers=me["token"])
            assert r.status_code == 200, r.text
            return r.json()

        before = await log(limit=200)
        read = await client.get(f"{MEDCARD}/patients/{me['patient_id']}/entries", headers=doc)
        assert read.status_code == 200
        after = await log(limit=200)
        new = after["items"][: len(after["items"]) - len(before["items"])]
        assert [(a["who"], a["role"], a["facility"], a["facility_name"], a["action"], a["own"]) for a in new] == [
            ("Doctor", "doctor", "F1", "Facility F1", "medcard.entry/read", False)]
        assert after["items"][1:] == before["items"]  # newest first
        everyone = {(a["who"], a["role"]) for a in after["items"]}
        assert {("Doctor", "doctor"), ("Nurse", "nurse")} <= everyone
        dispensed = [a for a in after["items"] if a["action"] == "erecipe.dispensing/dispense"]
        assert dispensed and all(a["role"] == "pharmacist" for a in dispensed)  # the pharmacy is listed too
        assert not any(a["own"] for a in after["items"]) and "Patient1" not in {a["who"] for a in after["items"]}

        with_own = await log(own="true", limit=200)
        mine = [a for a in with_own["items"] if a["own"]]
        assert {a["action"] for a in mine} >= {"medcard.card/read", "patient.access_log/read"}
        assert {a["who"] for a in mine} == {"Patient1"}
        assert [a for a in with_own["items"] if not a["own"]] == after["items"]

        pages, cursor = [], None
        while True:
            page = await log(limit=3, **({"after": cursor} if cursor else {}))
            pages += page["items"]
            if not (cursor := page["next"]):
                break
        assert pages == after["items"]

        theirs = (await client.get(f"{PATIENT_API}/access-log", params={"limit": 200},
                                   headers=other["token"])).json()["items"]
        assert theirs and new[0]["at"] not in {a["at"] for a in theirs}  # patient 2's log, not patient 1's
