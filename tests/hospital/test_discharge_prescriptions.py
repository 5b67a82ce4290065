"""Electronic prescriptions reach the cards: one issued during a stay is on the inpatient card and
the discharge summary (marked when cancelled); one issued during a visit is on the outpatient card."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from adapters.signature.dev import DevSignature
from core.canonical import canonical_json
from core.pinfl import check_digit
from host.settings import Settings
from tests.erecipe.rx import load_register
from tests.polyclinic.world import HOSP, POLY, patient, pinfl, until
from tests.support import add_facility, add_user, login, opened, serving

RX = "/api/v1/erecipe/prescriptions"
DOCTOR_PINFL = "3010190000990" + str(check_digit("3010190000990"))


async def world(db_url: str, keys: Path) -> tuple[Settings, DevSignature]:
    settings = Settings(database_url=db_url, run_relay=True, relay_poll_seconds=0.2,
                        signature_adapter="dev", signature_dev_keys_dir=str(keys))
    async with opened(settings) as rt:
        await load_register(rt)  # prescription lines name medicines of the register
        await add_facility(rt, "F1", settings.modules, kind="hospital")
        await add_user(rt, "doctor", grants=[("F1", "doctor")], pinfl=DOCTOR_PINFL)
    return settings, DevSignature(keys)


async def issue(client: Any, doc: dict[str, str], signer: DevSignature, **changes: Any) -> dict[str, Any]:
    line = {"inn": "Amoxicillin", "form": "capsule", "strength": "500 mg", "dose": "1 capsule",
            "frequency": "3 times a day", "route": "oral", "duration_days": 7, "quantity": 21}
    body = {"patient_pinfl": pinfl(1), "diagnosis": "J18.9", "category": "standard", "lines": [line], **changes}
    r = await client.post(f"{RX}/drafts", json=body, headers=doc)
    assert r.status_code == 201, r.text
    d = r.json()
    sig = await signer.sign(base64.b64decode(d["canonical"]), signer_pinfl=DOCTOR_PINFL)
    r = await client.post(f"{RX}/{d['id']}/issue", headers=doc,
                          json={"signature": base64.b64encode(sig).decode(), "content": d["canonical"]})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def cancel(client: Any, doc: dict[str, str], signer: DevSignature, rx: dict[str, Any]) -> None:
    content = canonical_json({"action": "cancel", "number": rx["number"], "reason": "allergy"})
    sig = base64.b64encode(await signer.sign(content, signer_pinfl=DOCTOR_PINFL)).decode()
    r = await client.post(f"{RX}/{rx['id']}/cancel", json={"reason": "allergy", "signature": sig}, headers=doc)
    assert r.status_code == 200, r.text


async def test_prescriptions_of_the_stay_are_on_the_discharge_summary(db_url: str, tmp_path: Path) -> None:
    settings, signer = await world(db_url, tmp_path)
    async with serving(settings) as client:
        doc = await login(client, "doctor")
        pid = await patient(client, doc)
        ward = (await client.post(f"{HOSP}/wards", headers=doc,
                                  json={"name": "A", "profile": "therapy", "beds": ["A-1"]})).json()
        stay = await client.post(f"{HOSP}/stays", headers=doc,
                                 json={"patient_id": pid, "bed_id": ward["beds"][0]["id"], "diagnosis": "J18.9"})
        assert stay.status_code == 201, stay.text
        sid = stay.json()["id"]
        kept, dropped = await issue(client, doc, signer), await issue(client, doc, signer, diagnosis="J06.9")
        await cancel(client, doc, signer, dropped)
        out = {"diagnosis": "J18.9", "outcome": "recovered", "summary": "Pneumonia treated."}
        assert (await client.post(f"{HOSP}/stays/{sid}/discharge", json=out, headers=doc)).status_code == 200

        async def carded() -> Any:
            got = (await client.get(f"{HOSP}/stays/{sid}/card", headers=doc)).json()
            marks = {p["entry_id"]: p["summary"]["status"] for p in got["discharge_prescriptions"]}
            return got if marks == {kept["id"]: "issued", dropped["id"]: "cancelled"} else None
        card = await until(carded)
        assert card["stay"]["status"] == "discharged"
        first = next(p for p in card["prescriptions"] if p["entry_id"] == kept["id"])
        assert first["kind"] == "prescription" and first["summary"]["number"] == kept["number"]
        assert first["summary"]["lines"][0]["inn"] == "Amoxicillin" and first["summary"]["diagnosis"] == "J18.9"


async def test_a_prescription_outside_any_stay_or_visit_attaches_nowhere_and_a_visits_is_on_its_card(
        db_url: str, tmp_path: Path) -> None:
    settings, signer = await world(db_url, tmp_path)
    async with serving(settings) as client:
        doc = await login(client, "doctor")
        pid = await patient(client, doc)
        stray = await issue(client, doc, signer)  # no stay, no visit yet: belongs to neither card
        visit = (await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc)).json()
        rx = await issue(client, doc, signer)

        async def carded() -> Any:
            got = (await client.get(f"{POLY}/visits/{visit['id']}/card", headers=doc)).json()
            return got if got["prescriptions"] else None
        card = await until(carded)
        assert [p["entry_id"] for p in card["prescriptions"]] == [rx["id"]] and stray["id"] != rx["id"]
        assert card["prescriptions"][0]["summary"]["number"] == rx["number"]
