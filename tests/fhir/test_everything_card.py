"""``Patient/$everything`` holds exactly what the native card shows: every current entry of every
kind (diagnoses, vital signs, laboratory, instrumental, complaints, findings) and every visit, stay
and prescription on the card's timeline, and nothing of another patient."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.clinical import MEDCARD, PATIENT, build_history, seed, settings_for, signer_for, until
from tests.fhir.test_modules_http import bundle
from tests.medcard.card import complaint, finding
from tests.support import serving

ENTRY_TYPES = {"Condition", "Observation", "DiagnosticReport"}


async def native_timeline(client: Any, pid: str, doc: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{MEDCARD}/patients/{pid}/entries", params=params, headers=doc)
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        if not (cursor := page["next"]):
            return items


async def everything(client: Any, pid: str, doc: dict[str, str]) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = []
    url: str | None = f"/fhir/Patient/{pid}/$everything?_count=5"
    while url:
        found = await bundle(client, url, doc)
        resources += [e["resource"] for e in found.get("entry", [])]
        url = next((link["url"] for link in found["link"] if link["relation"] == "next"), None)
    return resources


async def test_everything_equals_the_native_card(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path / "keys")
    await seed(settings)
    async with serving(settings) as client:
        ids = await build_history(client, signer_for(settings))
        other = await build_history(client, signer_for(settings),
                                    patient={"pinfl": "32505900123459", "birth_date": "1990-05-25",
                                             "surname": "Boshqa", "given_name": "Bemor"})
        doc, pid = ids["headers"]["doctor"], ids["patient_id"]
        for body, path in ((complaint(), "complaints"), (finding(), "findings")):
            r = await client.post(f"{MEDCARD}/patients/{pid}/{path}", json=body, headers=doc)
            assert r.status_code == 201, r.text

        async def settled() -> list[dict[str, Any]] | None:  # the card's records come through events
            items = await native_timeline(client, pid, doc)
            kinds = {i["kind"] for i in items if i["item"] == "record"}
            return items if {"prescription", "outpatient_visit", "inpatient_stay"} <= kinds else None

        card = await until(settled)
        resources = await everything(client, pid, doc)

    entries = {i["id"] for i in card if i["item"] == "entry"}
    assert {i["kind"] for i in card if i["item"] == "entry"} >= {
        "indicator", "diagnosis", "lab", "instrumental", "complaint", "finding"}
    records = {(i["kind"], i["record_id"]) for i in card if i["item"] == "record"}
    by_type: dict[str, set[str]] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], set()).add(r["id"])

    assert by_type["Patient"] == {pid} and resources[0]["resourceType"] == "Patient"
    assert set().union(*(by_type.get(t, set()) for t in ENTRY_TYPES)) == entries
    assert by_type["Encounter"] == {rid for kind, rid in records if kind in ("outpatient_visit", "inpatient_stay")}
    prescriptions = {rid for kind, rid in records if kind == "prescription"}
    assert {mr.rsplit("-", 1)[0] for mr in by_type["MedicationRequest"]} == prescriptions
    assert {p for p in by_type["Provenance"] if p in prescriptions} == prescriptions  # each one's signature
    theirs = {other["patient_id"], other["diagnosis_id"], other["visit_id"], other["stay_id"]}
    assert not theirs & set().union(*by_type.values())
    assert PATIENT["pinfl"] != "32505900123459"
