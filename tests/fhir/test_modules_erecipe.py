"""Prescriptions as FHIR R5 MedicationRequest, dispensings as MedicationDispense, and the archived
EDS signatures as Provenance whose data still verifies over the signed bytes; each valid R5."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from fhir.resources import get_fhir_model_class

from core.canonical import canonical_json
from host.pluginapi import FhirItem, FhirQuery
from tests.clinical import (
    RX,
    STAFF,
    build_history,
    fhir_providers,
    prescribe,
    seed,
    settings_for,
    sign,
    signer_for,
)
from tests.support import serving

NUMBER = "urn:shifo:erecipe:prescription-number"


def valid(item: FhirItem | None) -> dict[str, Any]:
    assert item is not None
    res = item.resource
    get_fhir_model_class(res["resourceType"]).model_validate(res)
    return res


def ids_of(items: list[FhirItem]) -> list[str]:
    return [i.resource["id"] for i in items]


async def test_requests_dispenses_and_signatures(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path / "keys")
    staff = await seed(settings)
    signer = signer_for(settings)
    async with serving(settings) as client:
        ids = await build_history(client, signer)
        doc = ids["headers"]["doctor"]
        rx = (await client.get(f"{RX}/prescriptions/{ids['rx_id']}", headers=doc)).json()
        other = await prescribe(client, signer, doc, ids["pinfl"])
        content = canonical_json({"action": "cancel", "number": other["number"], "reason": "allergy"})
        r = await client.post(f"{RX}/prescriptions/{other['id']}/cancel", headers=doc, json={
            "reason": "allergy", "signature": await sign(signer, content, "doctor")})
        assert r.status_code == 200, r.text
    pinfl, line1 = ids["pinfl"], f"{ids['rx_id']}-1"
    async with fhir_providers(settings) as (req, res):
        mr = res["MedicationRequest"]
        m = valid(await mr.read(req, line1))
        assert m["status"] == "active" and m["intent"] == "order"  # partially dispensed: still active
        assert m["identifier"][0] == {"use": "official", "system": NUMBER, "value": ids["rx_number"]}
        assert m["groupIdentifier"] == {"system": NUMBER, "value": ids["rx_number"]}
        assert m["medication"] == {"concept": {"text": "Amlodipine 5 mg tablet", "coding": [  # by INN
            {"system": "http://www.whocc.no/atc", "code": "C08CA01", "display": "Amlodipine"}]}}
        assert m["subject"]["reference"] == f"Patient/{ids['patient_id']}"
        assert m["requester"]["reference"] == f"Practitioner/{staff['doctor']}"
        assert m["reason"][0]["concept"]["coding"][0] == {"system": "http://hl7.org/fhir/sid/icd-10",
                                                          "code": "I10"}
        assert m["dosageInstruction"][0]["text"] == "1 tablet once a day, oral, for 30 days"
        assert m["dispenseRequest"]["quantity"] == {"value": 30, "unit": "tablet"}
        assert m["dispenseRequest"]["validityPeriod"]["end"].startswith(rx["valid_until"][:19])
        cancelled = valid(await mr.read(req, f"{other['id']}-1"))
        assert cancelled["status"] == "cancelled" and cancelled["statusReason"] == {"text": "allergy"}
        everything = await mr.search(req, FhirQuery(patient=pinfl))
        assert ids_of(everything) == [f"{other['id']}-1", line1]  # newest first
        assert all(i.patient == pinfl for i in everything)
        for token in (ids["rx_number"], f"{NUMBER}|{ids['rx_number']}"):
            assert ids_of(await mr.search(req, FhirQuery(identifier=token))) == [line1]
        assert await mr.search(req, FhirQuery(identifier=f"urn:other|{ids['rx_number']}")) == []
        assert ids_of(await mr.search(req, FhirQuery(patient=pinfl, status="active"))) == [line1]
        assert ids_of(await mr.search(req, FhirQuery(patient=pinfl, status="cancelled"))) == [f"{other['id']}-1"]
        assert await mr.search(req, FhirQuery(patient=pinfl, status="completed")) == []
        assert len(await mr.search(req, FhirQuery(patient=pinfl, limit=1))) == 1
        for bad in (ids["rx_id"], f"{ids['rx_id']}-2", f"{ids['rx_id']}-x", "x" * 40, "", line1.upper(),
                    f"{ids['rx_id']}-01"):
            assert await mr.read(req, bad) is None

        md = res["MedicationDispense"]
        [given] = await md.search(req, FhirQuery(patient=pinfl))
        d = valid(given)
        assert d["id"] == f"{ids['dispense_id']}-1" and d["status"] == "completed"
        assert d["authorizingPrescription"] == [{"reference": f"MedicationRequest/{line1}"}]
        assert d["quantity"]["value"] == 10 and d["performer"][0]["actor"]["reference"] == \
            f"Practitioner/{staff['pharmacist']}"
        [product] = d["contained"]
        assert product["batch"]["lotNumber"] == "B-2291" and product["code"]["text"].startswith("Amlodipine")
        assert d["medication"] == {"reference": {"reference": "#product"}}
        assert (await md.read(req, d["id"])) == given
        assert await md.read(req, ids["dispense_id"]) is None

        pv = res["Provenance"]
        assert await pv.read(req, ids["rx_id"].upper()) is None
        p = valid(await pv.read(req, ids["rx_id"]))
        assert p["target"] == [{"reference": f"MedicationRequest/{line1}"}]
        [sig] = p["signature"]
        assert sig["sigFormat"] == "application/pkcs7-signature"
        assert sig["who"]["reference"] == f"Practitioner/{staff['doctor']}"
        verdict = await signer.verify(canonical_json(rx["content"]), base64.b64decode(sig["data"]),
                                      signer_pinfl=STAFF["doctor"])
        assert verdict.valid, verdict.reason
        trail = await pv.search(req, FhirQuery(patient=pinfl))
        for item in trail:
            valid(item)
        assert ids_of(trail) == [other["id"], ids["dispense_id"], ids["rx_id"]]  # newest first
        assert trail[1].resource["target"] == [{"reference": f"MedicationDispense/{ids['dispense_id']}-1"}]
        assert await pv.search(req, FhirQuery(patient="30211975910034")) == []
