"""The lifecycle through the HTTP API: issue, partial and full dispensing, cancel, and the 409s."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from adapters.storage.tables import outbox
from tests.erecipe.rx import (
    PANADOL,
    PATIENT,
    actor,
    cancel,
    dispense,
    issued,
    item,
    line,
    seed,
    settings_for,
)
from tests.support import opened, serving


async def test_issue_partial_then_full_dispense(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with serving(s) as client:
        doctor = await actor(client, signer, "doctor")
        pharmacist = await actor(client, signer, "pharmacist")
        rx = await issued(doctor, lines=[line(), line(inn="Paracetamol", form="tablet", strength="500 mg", quantity=10)])
        assert rx["status"] == "issued" and rx["qr"].endswith(rx["number"])
        assert rx["verification"]["valid"] and rx["verification"]["signer_pinfl"] == rx["content"][
            "prescriber"]["pinfl"]

        found = (await pharmacist.get("/dispensing/", qr=rx["qr"])).json()
        assert [f["number"] for f in found] == [rx["number"]] and "diagnosis" not in found[0]
        assert found[0]["patient_name"] == "Rahimov Anvar Olimovich"
        by_pinfl = (await pharmacist.get("/dispensing/", pinfl=PATIENT)).json()
        assert [f["number"] for f in by_pinfl] == [rx["number"]]

        r = await dispense(pharmacist, rx["number"], [item(quantity=7)])
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "partially_dispensed"
        assert [ln["remaining"] for ln in r.json()["lines"]] == [14, 10]
        r = await dispense(pharmacist, rx["number"], [item(quantity=15)])
        assert r.status_code == 409 and "only 14 remain" in r.json()["detail"]
        r = await dispense(pharmacist, rx["number"], [item(quantity=14), item(2, quantity=10, medicine=PANADOL)])
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "dispensed"

        r = await dispense(pharmacist, rx["number"], [item(quantity=1)])
        assert r.status_code == 409 and "dispensed in full" in r.json()["detail"]
        assert (await cancel(doctor, rx)).status_code == 409
        assert (await pharmacist.get("/dispensing/", pinfl=PATIENT)).json() == []  # active only

        full = (await doctor.get(f"/prescriptions/{rx['id']}")).json()
        assert full["status"] == "dispensed"
        steps = [h["status"] for h in full["history"]]
        assert steps == ["draft", "issued", "partially_dispensed", "dispensed"]
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        kinds = [r.event_type for r in await tx.execute(select(outbox.c.event_type, outbox.c.patient)
                                                         .order_by(outbox.c.seq))
                 if r.patient == PATIENT and r.event_type.startswith("erecipe.")]
    assert kinds == ["erecipe.issued", "erecipe.dispensed", "erecipe.dispensed"]


async def test_cancel_then_nothing_more(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with serving(s) as client:
        doctor = await actor(client, signer, "doctor")
        doctor2 = await actor(client, signer, "doctor2")
        pharmacist = await actor(client, signer, "pharmacist")
        rx = await issued(doctor)
        assert (await cancel(doctor2, rx)).status_code == 403  # only the prescriber cancels
        r = await cancel(doctor, rx, reason="allergy reported")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled" and r.json()["cancel_reason"] == "allergy reported"
        assert (await cancel(doctor, rx)).status_code == 409
        r = await dispense(pharmacist, rx["number"], [item()])
        assert r.status_code == 409 and "cancelled" in r.json()["detail"] and "allergy" in r.json()["detail"]
        again = await doctor.post(f"/prescriptions/{rx['id']}/issue", {"signature": "AAAA"})
        assert again.status_code == 409  # an issued (here cancelled) prescription is not a draft
        history = (await doctor.get(f"/prescriptions/{rx['id']}")).json()["history"]
        assert [(h["status"], h["reason"]) for h in history][-1] == ("cancelled", "allergy reported")


async def test_unsigned_cancel_and_unknown_number(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with serving(s) as client:
        doctor = await actor(client, signer, "doctor")
        pharmacist = await actor(client, signer, "pharmacist")
        rx = await issued(doctor)
        wrong = await doctor.post(f"/prescriptions/{rx['id']}/cancel",
                                  {"reason": "other words", "signature": await doctor.sign(b"{}")})
        assert wrong.status_code == 422  # the signature covers other content
        assert (await doctor.get(f"/prescriptions/{rx['id']}")).json()["status"] == "issued"
        assert (await dispense(pharmacist, "NO-SUCH", [item()])).status_code == 404
        assert (await pharmacist.get("/dispensing/", number="NO-SUCH")).status_code == 404
        assert (await pharmacist.get("/dispensing/", qr="garbage")).status_code == 422
