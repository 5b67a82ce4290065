"""A paper prescription written during an outage, registered afterwards by its prescriber: dispensed
online and from an offline journal against its number, shown as paper everywhere; the window, the
form number's uniqueness, the prescriber's rules and the signature made at writing are enforced."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, select

from adapters.storage.tables import outbox
from core.canonical import canonical_json
from plugins.erecipe.fhir_common import PAPER_SYSTEM
from plugins.erecipe.tables import prescriptions
from tests.erecipe.rx import PATIENT, PINFLS, Actor, actor, dispense, item, line, morphine, seed, settings_for
from tests.erecipe.test_offline import entry, sign_at, signed
from tests.support import add_user, login, opened, serving

PAPER = "/prescriptions/paper"


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def paper_order(written: datetime, paper_number: str, **changes: Any) -> dict[str, Any]:
    """The object the prescriber's device signs when writing the paper form (docs/pharmacy.md)."""
    return {"action": "issue-paper", "id": str(uuid4()), "written_at": stamp(written),
            "paper_number": paper_number, "reason": "network down at the clinic", "facility": "F1",
            "patient_pinfl": PATIENT, "diagnosis": "J06.9", "category": "standard", "valid_days": 30,
            "lines": [{"line": 1, **line()}], **changes}


async def register(who: Actor, order: dict[str, Any], *, over: dict[str, Any] | None = None,
                   signed_at: datetime | None = None, key: str | None = None) -> Any:
    """Sign ``over`` (default: the order) at ``signed_at`` (default: written_at) and register."""
    at = signed_at or datetime.fromisoformat(order["written_at"])
    sig = await sign_at(who.signer, PINFLS[key or who.user], canonical_json(over or order), at)
    return await who.post(PAPER, {"order": order, "signature": sig})


async def test_paper_prescription(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with opened(s) as rt:
        await add_user(rt, "patient", kind="patient", pinfl=PATIENT)
    now = datetime.now(UTC).replace(microsecond=0)
    async with serving(s) as client:
        doctor, ph = await actor(client, signer, "doctor"), await actor(client, signer, "pharmacist")
        rx = await _registered_and_dispensed(client, doctor, ph, now)
        await _refused(client, doctor, signer, rx, now)
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        kept = (await tx.execute(select(prescriptions.c.paper_number).where(
            prescriptions.c.source == "paper"))).scalars().all()
        events = (await tx.execute(select(func.count()).select_from(outbox).where(
            outbox.c.event_type == "erecipe.issued"))).scalar_one()
    assert kept == ["PN-0001"] and events == 1  # nothing of the refused ones was written


async def _registered_and_dispensed(client: Any, doctor: Actor, ph: Actor, now: datetime) -> dict[str, Any]:
    """Written 2 h ago, registered now: issued as of then; dispensed online and offline in between."""
    written = now - timedelta(hours=2)
    order = paper_order(written, "PN-0001")
    r = await register(doctor, order)
    assert r.status_code == 201, r.text
    rx: dict[str, Any] = r.json()
    assert (rx["source"], rx["paper_number"], rx["status"]) == ("paper", "PN-0001", "issued")
    assert rx["id"] == order["id"] and rx["number"] == f"{written:%y%m%d}-{UUID(order['id']).hex[-10:].upper()}"
    assert datetime.fromisoformat(rx["issued_at"]) == written
    assert datetime.fromisoformat(rx["valid_until"]) == written + timedelta(days=30)
    assert [(h["status"], datetime.fromisoformat(h["at"])) for h in rx["history"]] == [("issued", written)]
    assert rx["content"]["reason"] == "network down at the clinic"
    assert rx == (await doctor.get(f"/prescriptions/{rx['id']}")).json()  # the answer is what is stored

    [found] = (await ph.get("/dispensing/", number=rx["number"])).json()
    assert (found["source"], found["paper_number"]) == ("paper", "PN-0001")
    assert (await dispense(ph, rx["number"], [item(quantity=6)])).status_code == 201  # online: 15 left
    during = await signed(ph.signer, entry(rx["number"], 5, now - timedelta(hours=1)))  # before registering
    before = await signed(ph.signer, entry(rx["number"], 1, now - timedelta(hours=3)))  # before it was written
    body = (await ph.post("/dispense-journal", {"entries": [during, before]})).json()
    assert [(o["outcome"], o["status"]) for o in body["entries"]] == [("accepted", "partially_dispensed"),
                                                                      ("conflict", None)]
    assert "dispensed before the prescription was issued" in body["entries"][1]["reason"]
    view = (await doctor.get(f"/prescriptions/{rx['id']}")).json()
    assert view["lines"][0]["remaining"] == 10 and view["status"] == "partially_dispensed"

    mine = (await client.get(f"/api/v1/patient/prescriptions/{rx['id']}",
                             headers=await login(client, "patient"))).json()  # the DMED app
    assert (mine["source"], mine["paper_number"]) == ("paper", "PN-0001")
    assert [d["items"][0]["quantity"] for d in mine["dispenses"]] == [5, 6]  # by dispensed_at
    fhir = (await client.get("/fhir/MedicationRequest", params={"identifier": f"{PAPER_SYSTEM}|PN-0001"},
                             headers=doctor.headers)).json()
    [mr] = [e["resource"] for e in fhir["entry"]]
    assert {"use": "secondary", "system": PAPER_SYSTEM, "value": "PN-0001",
            "assigner": {"reference": "Organization/F1"}} in mr["identifier"]
    assert mr["authoredOn"].startswith(written.isoformat()[:19])
    return rx


async def _refused(client: Any, doctor: Actor, signer: Any, rx: dict[str, Any], now: datetime) -> None:
    """Each refusal names its reason; none leaves anything behind (checked by the caller)."""
    def ago(hours: int) -> datetime:
        return now - timedelta(hours=hours)
    r = await register(doctor, paper_order(ago(73), "PN-0002"))  # outside the 72 h window
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "order.written_at", r.text
    assert "registration window of 72 hours" in r.json()["detail"]
    r = await register(doctor, paper_order(ago(70), "PN-0002", valid_days=2))  # its validity ended
    assert r.status_code == 422 and "expired at" in r.json()["detail"], r.text
    r = await register(doctor, paper_order(ago(1), "PN-0001"))  # the same form again, a new id
    assert r.status_code == 409 and rx["number"] in r.json()["detail"], r.text
    nurse = await actor(client, signer, "nurse")
    assert (await register(nurse, paper_order(ago(1), "PN-0003"))).status_code == 403
    resident = await actor(client, signer, "resident")
    narcotic = paper_order(ago(1), "PN-0003", category="controlled", valid_days=5,
                           lines=[{"line": 1, **morphine()}])
    r = await register(resident, narcotic)
    assert r.status_code == 403 and "resident may not prescribe the controlled" in r.json()["detail"], r.text

    order = paper_order(ago(1), "PN-0003")
    altered = await register(doctor, order, over={**order, "lines": [{"line": 1, **line(quantity=210)}]})
    assert altered.status_code == 422 and "refused" in altered.json()["detail"], altered.text
    r = await register(doctor, order, key="doctor2")  # signed by another prescriber
    assert r.status_code == 422 and "refused" in r.json()["detail"], r.text
    r = await register(doctor, order, signed_at=now)  # signed now, not when it was written
    assert r.status_code == 422 and "not made when the prescription was written" in r.json()["detail"], r.text
    r = await doctor.post(PAPER, {"order": order, "signature": base64.b64encode(b"not a CMS").decode()})
    assert r.status_code == 422, r.text
    r = await doctor.post(PAPER, {"order": order})  # unsigned
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "signature", r.text
