"""A hospital referral made during a visit is closed on the outpatient card once the hospital
admits the patient from it; the visit's other referrals and orders stay as they were."""

from __future__ import annotations

from typing import Any

from tests.hospital.test_stays import ward
from tests.polyclinic.world import HOSP, POLY, patient, seed, settings_for, until
from tests.support import login, serving


async def test_the_admission_closes_the_referral_on_the_outpatient_card(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        doc, nurse = await login(client, "doctor"), await login(client, "nurse")
        pid = await patient(client, doc)
        vid = (await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc)).json()["id"]

        async def refer(body: dict[str, Any]) -> str:
            r = await client.post(f"{POLY}/visits/{vid}/referrals", json=body, headers=doc)
            assert r.status_code == 201, r.text
            return str(r.json()["id"])
        admitted = await refer({"kind": "hospital", "to_facility": "F1", "diagnosis": "J18.9"})
        other = await refer({"kind": "hospital", "to_facility": "F2", "diagnosis": "J18.9"})
        order = await refer({"kind": "lab", "code": "2823-3"})

        async def waiting() -> Any:
            return (await client.get(f"{HOSP}/admissions/pending", headers=nurse)).json()
        assert [p["referral_id"] for p in await until(waiting)] == [admitted]
        bed = (await ward(client, doc, "R", 1))["beds"][0]["id"]
        stay = await client.post(f"{HOSP}/stays", headers=doc,
                                 json={"referral_id": admitted, "bed_id": bed, "diagnosis": "J18.9"})
        assert stay.status_code == 201, stay.text

        async def statuses() -> Any:
            got = (await client.get(f"{POLY}/visits/{vid}/card", headers=doc)).json()["referrals"]
            found = {r["id"]: r["status"] for r in got}
            return found if found[admitted] != "open" else None
        assert await until(statuses) == {admitted: "closed", other: "open", order: "open"}
