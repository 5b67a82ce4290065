"""Pharmacies without a connection: the QR token verified offline against synced anchors, and the
offline dispense journal reconciled in ``dispensed_at`` order, with conflicts kept as records."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from asn1crypto import keys, x509  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko_certvalidator.registry import SimpleCertificateStore
from sqlalchemy import select

from adapters.signature.dev import DevSignature
from core.canonical import canonical_json
from host import cli
from plugins.erecipe import qr
from plugins.erecipe.tables import dispense_conflicts, dispenses
from tests.erecipe.rx import PATIENT, PINFLS, actor, dispense, issued, item, line, pinfl, seed, settings_for
from tests.support import add_facility, add_user, login, opened, serving

DER = serialization.Encoding.DER
PHARMACIST2 = pinfl(9)


async def sign_at(signer: DevSignature, who: str, content: bytes, at: datetime) -> str:
    """A detached CMS by ``who``'s dev key with the signing time ``at``, as a pharmacy's offline
    journal makes it at the moment of the dispense."""
    cred = signer.enroll(who)
    key = cred.key.private_bytes(DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    cms = await SimpleSigner(
        signing_cert=x509.Certificate.load(cred.cert.public_bytes(DER)),
        signing_key=keys.PrivateKeyInfo.load(key), cert_registry=SimpleCertificateStore(),
    ).async_sign_general_data(content, "sha256", detached=True,
                              signed_attr_settings=PdfCMSSignedAttributes(signing_time=at))
    return base64.b64encode(cms.dump()).decode()


def entry(number: str, quantity: int, at: datetime, *, facility: str = "PH", who: str = PINFLS["pharmacist"],
          line_no: int = 1) -> dict[str, Any]:
    return {"action": "dispense-offline", "entry_id": str(uuid4()), "number": number, "line": line_no,
            "quantity": quantity, "medicine": "DV/X 00001/02/21", "batch": "B-7", "expiry": "2030-01-31",
            "gtin": None, "serial": None, "facility": facility, "pharmacist_pinfl": who,
            "dispensed_at": at.strftime("%Y-%m-%dT%H:%M:%SZ")}


async def signed(signer: DevSignature, e: dict[str, Any], *, key: str | None = None) -> dict[str, Any]:
    at = datetime.fromisoformat(e["dispensed_at"])
    return {"entry": e, "signature": await sign_at(signer, key or e["pharmacist_pinfl"], canonical_json(e), at)}


async def shifo(argv: list[str]) -> int:
    """The ``shifo`` command, off the test's event loop (it runs its own)."""
    return await asyncio.to_thread(cli.main, argv)


def outcomes(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(o["outcome"], o["reason"]) for o in body["entries"]]


async def test_pharmacy_offline(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """One seeded deployment (two pharmacies, a patient account) for the journal and the QR checks."""
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with opened(s) as rt:
        await add_facility(rt, "PH2", ["medcard", "erecipe"], kind="pharmacy")
        await add_user(rt, "pharmacist2", grants=[("PH2", "pharmacist")], pinfl=PHARMACIST2)
        await add_user(rt, "patient", kind="patient", pinfl=PATIENT)
    async with serving(s) as client:
        token, number = await qr_served(client, signer)
        await journal_reconciled(client, signer, s)
    await qr_verified_offline(token, number, db_url, tmp_path, monkeypatch, capsys)


async def journal_reconciled(client: Any, signer: DevSignature, s: Any) -> None:
    """A journal of 3 dispenses after an online one reconciles in dispensed_at order; forged,
    altered and too old entries are refused; re-sent entries apply once; two pharmacies'
    dispenses of the same last quantity yield one conflict record, listed and resolved."""
    now = datetime.now(UTC).replace(microsecond=0)
    ago = lambda hours: now - timedelta(hours=hours)  # noqa: E731
    doctor = await actor(client, signer, "doctor")
    ph = await actor(client, signer, "pharmacist")
    ph2 = await actor(client, signer, "pharmacist2")
    rx = await issued(doctor)  # 21 capsules, partial dispensing allowed
    assert (await dispense(ph, rx["number"], [item(quantity=6)])).status_code == 201  # online: 15 left

    early, middle, late = (entry(rx["number"], q, ago(h)) for q, h in ((4, 3), (6, 2), (7, 1)))
    altered = await signed(signer, entry(rx["number"], 1, ago(1)))
    altered["entry"] = {**altered["entry"], "quantity": 2}
    batch = [await signed(signer, late), await signed(signer, early), await signed(signer, middle),
             await signed(signer, entry(rx["number"], 1, ago(2)), key=PINFLS["nurse"]),  # someone else's key
             altered, await signed(signer, entry(rx["number"], 1, ago(73)))]  # outside 72 h
    r = await ph.post("/dispense-journal", {"entries": batch})
    assert r.status_code == 200, r.text
    body = r.json()
    # in dispensed_at order: 15 - 4 - 6 = 5 left, so the latest (7) overdraws; sent order would not
    assert [o for o, _ in outcomes(body)] == ["conflict", "accepted", "accepted", "refused", "refused",
                                              "refused"]
    assert "only 5 remained" in body["entries"][0]["reason"]
    assert "another person" in body["entries"][3]["reason"]
    assert "changed after signing" in body["entries"][4]["reason"]
    assert "outside the upload window of 72 hours" in body["entries"][5]["reason"]
    assert (body["accepted"], body["conflicts"], body["refused"]) == (2, 1, 3)
    view = (await doctor.get(f"/prescriptions/{rx['id']}")).json()
    assert view["status"] == "partially_dispensed" and view["lines"][0]["remaining"] == 5

    again = (await ph.post("/dispense-journal", {"entries": batch[:3]})).json()  # idempotent
    assert [o for o, _ in outcomes(again)] == ["conflict", "accepted", "accepted"]
    assert again["entries"][0]["conflict_id"] == body["entries"][0]["conflict_id"]
    assert (await doctor.get(f"/prescriptions/{rx['id']}")).json()["lines"][0]["remaining"] == 5

    # two pharmacies each dispensed the whole of one prescription offline: one conflict record
    rx2 = await issued(doctor)
    pack = {"gtin": "04781000010133", "serial": "5XQ2-0001"}  # a marked pack, scanned
    first = await ph.post("/dispense-journal", {"entries": [await signed(signer, {
        **entry(rx2["number"], 21, ago(2)), **pack})]})
    second = await ph2.post("/dispense-journal", {"entries": [await signed(signer, entry(
        rx2["number"], 21, ago(1), facility="PH2", who=PHARMACIST2))]})
    assert outcomes(first.json()) == [("accepted", None)]
    assert outcomes(second.json()) == [("conflict", "line 1: only 0 remained to be dispensed")]
    mine = (await ph2.get("/dispense-conflicts")).json()
    assert [(c["number"], c["kind"], c["quantity"]) for c in mine] == [(rx2["number"], "overdraw", 21)]
    assert [c["number"] for c in (await ph.get("/dispense-conflicts")).json()] == [rx["number"]]
    done = await ph2.post(f"/dispense-conflicts/{mine[0]['id']}/resolve", {"resolution": "pack returned"})
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert (await ph2.post(f"/dispense-conflicts/{mine[0]['id']}/resolve",
                           {"resolution": "again"})).status_code == 409
    assert (await ph2.get("/dispense-conflicts")).json() == []
    resolved = (await ph2.get("/dispense-conflicts", status="resolved")).json()
    assert [(c["facility"], c["resolution"]) for c in resolved] == [("PH2", "pack returned")]
    [left] = (await ph.get("/dispense-conflicts")).json()  # PH's own, not PH2's
    assert (await ph2.post(f"/dispense-conflicts/{left['id']}/resolve",
                           {"resolution": "not ours"})).status_code == 404
    assert (await doctor.post("/dispense-journal", {"entries": batch[:1]})).status_code == 403
    resold = await signed(signer, {**entry(rx["number"], 1, ago(1)), **pack})  # 5 remain, the pack was sold
    assert outcomes((await ph.post("/dispense-journal", {"entries": [resold]})).json()) == [
        ("conflict", "the pack 04781000010133/5XQ2-0001 was already dispensed")]
    tramadol = await signed(signer, {**entry(rx["number"], 1, ago(1)), "medicine": "DV/X 00040/05/21"})
    [(outcome, reason)] = outcomes((await ph.post("/dispense-journal", {"entries": [tramadol]})).json())
    assert outcome == "refused" and "only the same INN, form and strength" in (reason or "")
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        rows = (await tx.execute(select(dispenses.c.source, dispenses.c.dispensed_at)
                                 .order_by(dispenses.c.dispensed_at))).all()
        conflicts = (await tx.execute(select(dispense_conflicts.c.entry_id))).scalars().all()
    assert [r.source for r in rows] == ["offline", "offline", "offline", "online"]
    assert [r.dispensed_at for r in rows[:3]] == [ago(3), ago(2), ago(2)]  # their own times, not upload's
    assert sorted(conflicts) == sorted(UUID(e["entry_id"]) for e in (
        late, second.json()["entries"][0], resold["entry"]))




async def qr_served(client: Any, signer: DevSignature) -> tuple[str, str]:
    """The QR code of an issued prescription for the clinician (token, PNG) and the patient (SVG)."""
    doctor = await actor(client, signer, "doctor")
    rx = await issued(doctor, lines=[line(), line(inn="Ibuprofen", form="tablet", strength="400 mg",
                                              quantity=20)])
    r = await doctor.get(f"/prescriptions/{rx['id']}/qr", format="token")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    png = await doctor.get(f"/prescriptions/{rx['id']}/qr", format="png")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")
    me = await login(client, "patient")
    svg = await client.get(f"/api/v1/patient/prescriptions/{rx['id']}/qr", headers=me)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert (await client.get(f"/api/v1/patient/prescriptions/{uuid4()}/qr", headers=me)).status_code == 404
    draft = (await doctor.post("/prescriptions/drafts", {
        "patient_pinfl": PATIENT, "diagnosis": "J06.9", "category": "standard", "lines": [line()]})).json()
    assert (await doctor.get(f"/prescriptions/{draft['id']}/qr")).status_code == 409  # unsigned
    return r.text, rx["number"]


async def qr_verified_offline(token: str, number: str, db_url: str, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The server exports its anchors; the pharmacy verifies with them and no database."""
    canonical, _ = qr.decode(token)
    assert json.loads(canonical)["number"] == number and len(token) < 2600
    monkeypatch.setenv("SHIFO_DATABASE_URL", db_url)
    monkeypatch.setenv("SHIFO_MODULES", "medcard,erecipe")
    monkeypatch.setenv("SHIFO_SIGNATURE_DEV_KEYS_DIR", str(tmp_path / "keys"))
    anchors = tmp_path / "anchors"
    assert await shifo(["erecipe", "export-anchors", str(anchors)]) == 0  # at the server
    assert sorted(p.suffix for p in anchors.iterdir()) == [".crl", ".pem"]

    # at the pharmacy: no database (a URL that cannot be opened), only the synced anchors
    monkeypatch.setenv("SHIFO_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:9/none")
    capsys.readouterr()
    assert await shifo(["erecipe", "verify-qr", token, "--anchors", str(anchors)]) == 0
    shown = capsys.readouterr().out
    assert shown.rstrip().endswith("VALID") and number in shown and PATIENT not in shown
    assert "Ibuprofen" in shown and PATIENT[-4:] in shown  # the lines, and the PINFL masked
    content = json.loads(canonical)
    content["lines"][0]["quantity"] = 210
    forged = qr.encode(canonical_json(content), qr.decode(token)[1])
    (tmp_path / "forged.txt").write_text(forged)
    assert await shifo(["erecipe", "verify-qr", str(tmp_path / "forged.txt"), "--anchors", str(anchors),
                        "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["valid"] is False and "changed after signing" in verdict["reason"]
    assert await shifo(["erecipe", "verify-qr", token[:40], "--anchors", str(anchors)]) == 2
    assert await shifo(["erecipe", "verify-qr", token, "--anchors", str(tmp_path / "none")]) == 2
