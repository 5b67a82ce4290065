"""Complaints and examination findings recorded on the card during a visit fill the outpatient
card's own sections, follow corrections and leave it when entered in error."""

from __future__ import annotations

from typing import Any

from tests.polyclinic.world import MEDCARD, POLY, now_iso, patient, seed, settings_for, until
from tests.support import login, serving

SAID = "Headache and dizziness since the morning."
SEEN = "Conscious, oriented; neck supple; pupils equal and reactive."


async def test_the_outpatient_card_shows_the_visits_complaints_and_findings(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        doc, resident = await login(client, "doctor"), await login(client, "resident")
        pid = await patient(client, doc)
        visit = await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc)
        assert visit.status_code == 201, visit.text
        vid = visit.json()["id"]
        card = f"{MEDCARD}/patients/{pid}"
        said = await client.post(f"{card}/complaints", headers=doc, json={
            "complaints": SAID, "history": "Blood pressure up to 170/100 for a year.",
            "performed_at": now_iso(), "encounter_id": vid})
        assert said.status_code == 201, said.text
        seen = await client.post(f"{card}/findings", headers=resident,  # no encounter: the open visit
                                 json={"findings": SEEN, "system": "nervous", "performed_at": now_iso()})
        assert seen.status_code == 201, seen.text
        for auth, path, body in ((await login(client, "nurse"), "complaints", {"complaints": SAID}),
                                 (await login(client, "pharmacist"), "findings", {"findings": SEEN})):
            refused = await client.post(f"{card}/{path}", json={**body, "performed_at": now_iso()}, headers=auth)
            assert refused.status_code == 403, (path, refused.text)

        async def filled() -> Any:
            got = (await client.get(f"{POLY}/visits/{vid}/card", headers=doc)).json()
            return got if got["complaints"] and got["findings"] else None
        outpatient = await until(filled)
        assert [(e["kind"], e["entry_id"]) for e in outpatient["complaints"]] == [("complaint", said.json()["id"])]
        assert outpatient["complaints"][0]["summary"]["complaints"] == SAID
        assert outpatient["complaints"][0]["summary"]["history"].startswith("Blood pressure")
        assert [(e["kind"], e["entry_id"]) for e in outpatient["findings"]] == [("finding", seen.json()["id"])]
        assert outpatient["findings"][0]["summary"] == {**outpatient["findings"][0]["summary"],
                                                        "findings": SEEN, "system": "nervous"}
        assert outpatient["indicators"] == [] and outpatient["diagnoses"] == []

        fix = {"version": 1, "reason": "the patient recalled nausea",
               "entry": {"complaints": SAID + " Nausea.", "performed_at": now_iso(), "encounter_id": vid}}
        fixed = await client.post(f"{card}/complaints/{said.json()['id']}/versions", json=fix, headers=doc)
        assert fixed.status_code == 201, fixed.text
        withdrawn = await client.post(f"{card}/findings/{seen.json()['id']}/entered-in-error", headers=resident,
                                      json={"version": 1, "reason": "recorded for the wrong patient"})
        assert withdrawn.status_code == 201, withdrawn.text

        async def followed() -> Any:
            got = (await client.get(f"{POLY}/visits/{vid}/card", headers=doc)).json()
            done = got["findings"] == [] and got["complaints"][0]["summary"]["version"] == 2
            return got if done else None
        after = await until(followed)
        assert after["complaints"][0]["summary"]["complaints"] == SAID + " Nausea."
        assert after["complaints"][0]["summary"]["history"] is None
