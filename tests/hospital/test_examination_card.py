"""The inpatient card shows the complaints and examination findings recorded during the stay."""

from __future__ import annotations

from typing import Any

from tests.hospital.test_stays import ward
from tests.polyclinic.world import HOSP, MEDCARD, now_iso, patient, seed, settings_for, until
from tests.support import login, serving


async def test_the_inpatient_card_shows_complaints_and_findings_of_the_stay(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        doc = await login(client, "doctor")
        pid = await patient(client, doc)
        bed = (await ward(client, doc, "E", 1))["beds"][0]["id"]
        stay = await client.post(f"{HOSP}/stays", json={"patient_id": pid, "bed_id": bed, "diagnosis": "I21.9"},
                                 headers=doc)
        assert stay.status_code == 201, stay.text
        sid = stay.json()["id"]
        card = f"{MEDCARD}/patients/{pid}"
        said = await client.post(f"{card}/complaints", headers=doc, json={
            "complaints": "Crushing chest pain for two hours.", "performed_at": now_iso(), "encounter_id": sid})
        seen = await client.post(f"{card}/findings", headers=doc, json={
            "findings": "Pale, sweating; heart sounds muffled.", "performed_at": now_iso(), "encounter_id": sid})
        assert said.status_code == 201 and seen.status_code == 201, (said.text, seen.text)

        async def filled() -> Any:
            got = (await client.get(f"{HOSP}/stays/{sid}/card", headers=doc)).json()
            return got if got["complaints"] and got["findings"] else None
        inpatient = await until(filled)
        assert [e["entry_id"] for e in inpatient["complaints"]] == [said.json()["id"]]
        assert inpatient["complaints"][0]["summary"]["complaints"] == "Crushing chest pain for two hours."
        assert [e["entry_id"] for e in inpatient["findings"]] == [seen.json()["id"]]
        assert inpatient["findings"][0]["summary"]["system"] is None
        assert inpatient["diagnoses"] == [] and inpatient["results"] == []
