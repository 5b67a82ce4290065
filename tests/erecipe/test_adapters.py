"""Issuing through other signature adapters: X.509 with a test PKI, and the demo's server signing."""

from __future__ import annotations

import base64
from pathlib import Path

from ports.kits.pki import TestPki
from tests.erecipe.rx import (
    API,
    PATIENT_CARD,
    PINFLS,
    actor,
    draft_body,
    issued,
    load_register,
    seed,
    settings_for,
)
from tests.support import add_facility, add_user, login, opened, serving


async def test_x509_adapter_with_a_test_pki(db_url: str, tmp_path: Path) -> None:
    pki = TestPki()
    trust = pki.write_trust_dir(tmp_path / "trust")
    s = settings_for(db_url, tmp_path / "keys").with_(
        signature_adapter="x509", extra={"signature_trust_dir": str(trust)})
    async with opened(s) as rt:
        await load_register(rt)
        await add_facility(rt, "F1", ["medcard", "erecipe"])
        await add_user(rt, "karimova", grants=[("F1", "doctor")], pinfl=pki.signer_pinfl)
    async with serving(s) as client:
        auth = await login(client, "karimova")
        r = await client.post(f"{API}/prescriptions/drafts", json=draft_body(), headers=auth)
        assert r.status_code == 422 and "register the patient" in r.json()["detail"]
        assert (await client.post("/api/v1/medcard/patients", json=PATIENT_CARD, headers=auth)).status_code == 201
        d = (await client.post(f"{API}/prescriptions/drafts", json=draft_body(), headers=auth)).json()
        canonical = base64.b64decode(d["canonical"])
        issue = f"{API}/prescriptions/{d['id']}/issue"
        for case in ("expired", "revoked", "untrusted", "other_signer"):
            sig = base64.b64encode(pki.sign(case, canonical, detached=True)).decode()
            r = await client.post(issue, json={"signature": sig}, headers=auth)
            assert r.status_code == 422, (case, r.text)
        sig = base64.b64encode(pki.sign("valid", canonical, detached=True)).decode()
        r = await client.post(issue, json={"signature": sig}, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["verification"]["signer_name"] == "Karimova Dilnoza"
        dev = await client.post(f"{API}/dev/sign", json={"content": d["canonical"]}, headers=auth)
        assert dev.status_code == 404  # no server-side signing outside the dev adapter


async def test_dev_signing_endpoint_for_the_demo(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with serving(s) as client:
        doctor = await actor(client, signer, "doctor")
        d = (await doctor.post("/prescriptions/drafts", draft_body())).json()
        r = await doctor.post("/dev/sign", {"content": d["canonical"]})
        assert r.status_code == 200
        r = await doctor.post(f"/prescriptions/{d['id']}/issue", {"signature": r.json()["signature"]})
        assert r.status_code == 200 and r.json()["verification"]["signer_pinfl"] == PINFLS["doctor"]
        nurse = await actor(client, signer, "nurse")
        assert (await nurse.post("/dev/sign", {"content": d["canonical"]})).status_code == 403
        assert (await issued(doctor))["status"] == "issued"
