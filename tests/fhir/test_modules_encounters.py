"""Outpatient visits and inpatient stays as FHIR R5 Encounters (AMB and IMP), each valid R5."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fhir.resources import get_fhir_model_class

from host.pluginapi import FhirItem, FhirQuery
from tests.clinical import build_history, fhir_providers, seed, settings_for, signer_for
from tests.support import serving

ICD10 = "http://hl7.org/fhir/sid/icd-10"


def valid(item: FhirItem | None) -> dict[str, Any]:
    assert item is not None
    get_fhir_model_class("Encounter").model_validate(item.resource)
    return item.resource


def codes(concepts: list[dict[str, Any]]) -> set[str]:
    return {c["code"] for cc in concepts for c in cc["coding"]}


async def test_visit_and_stay_are_encounters(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path / "keys")
    staff = await seed(settings)
    async with serving(settings) as client:
        ids = await build_history(client, signer_for(settings))
    pinfl, doctor = ids["pinfl"], str(staff["doctor"])
    async with fhir_providers(settings) as (req, res):
        poly, hosp = res["polyclinic:Encounter"], res["hospital:Encounter"]

        visit = valid(await poly.read(req, ids["visit_id"]))
        assert visit["status"] == "completed" and visit["id"] == ids["visit_id"]
        assert visit["class"][0]["coding"][0] == {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                                  "code": "AMB", "display": "ambulatory"}
        assert visit["subject"]["reference"] == f"Patient/{ids['patient_id']}"
        assert visit["serviceProvider"] == {"reference": "Organization/F1"}
        assert visit["participant"][0]["actor"] == {"reference": f"Practitioner/{doctor}"}
        assert visit["actualPeriod"]["start"] < visit["actualPeriod"]["end"]
        [dx] = visit["diagnosis"]
        assert dx["condition"][0]["concept"]["coding"][0]["system"] == ICD10
        assert dx["condition"][0]["concept"]["coding"][0]["code"] == "I10"
        assert dx["condition"][0]["reference"] == {"reference": f"Condition/{ids['diagnosis_id']}"}
        assert codes(dx["use"]) == {"final"}

        stay = valid(await hosp.read(req, ids["stay_id"]))
        assert stay["status"] == "completed" and stay["class"][0]["coding"][0]["code"] == "IMP"
        assert stay["subject"]["reference"] == f"Patient/{ids['patient_id']}"
        assert stay["serviceProvider"] == {"reference": "Organization/F1"}
        assert {p["actor"]["reference"] for p in stay["participant"]} == {f"Practitioner/{doctor}"}
        assert {c for p in stay["participant"] for c in codes(p["type"])} == {"ADM", "DIS"}
        assert [(codes(d["use"]), d["condition"][0]["concept"]["coding"][0]["code"])
                for d in stay["diagnosis"]] == [({"working"}, "I10"), ({"final"}, "I10")]
        disposition = stay["admission"]["dischargeDisposition"]
        assert disposition["coding"][0]["code"] == "home" and disposition["text"] == "improved"
        source = stay["admission"]["admitSource"]  # the guide's value set has no "emergency department"
        assert source["coding"][0]["code"] == "other" and source["text"] == "from the emergency department"
        assert "end" in stay["actualPeriod"]

        for provider, own in ((poly, ids["visit_id"]), (hosp, ids["stay_id"])):
            found = await provider.search(req, FhirQuery(patient=pinfl))
            assert [i.resource["id"] for i in found] == [own] and found[0].patient == pinfl
            assert [i.resource["id"] for i in await provider.search(req, FhirQuery(status="completed"))] == [own]
            assert await provider.search(req, FhirQuery(patient=pinfl, status="in-progress")) == []
            assert await provider.search(req, FhirQuery(patient="30211975910034")) == []
            assert await provider.search(req, FhirQuery(patient=pinfl, until=found[0].when)) == []
            for bad in ("nope", "", ids["patient_id"], "'; drop table x; --", own.upper(), f"{{{own}}}"):
                assert await provider.read(req, bad) is None
        assert await hosp.read(req, ids["visit_id"]) is None and await poly.read(req, ids["stay_id"]) is None
