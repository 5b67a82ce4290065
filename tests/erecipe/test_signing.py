"""Signatures: the signer must be the prescriber, and content changed after signing is refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from uuid import UUID

from sqlalchemy import select

from core.canonical import canonical_json
from plugins.erecipe.tables import prescriptions
from tests.erecipe.rx import PINFLS, actor, dispense, draft_body, issued, item, seed, settings_for
from tests.support import opened, serving


async def test_signatures_are_checked(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with serving(s) as client:
        doctor = await actor(client, signer, "doctor")
        doctor2 = await actor(client, signer, "doctor2")
        pharmacist = await actor(client, signer, "pharmacist")
        d = (await doctor.post("/prescriptions/drafts", draft_body())).json()
        canonical = base64.b64decode(d["canonical"])
        issue = f"/prescriptions/{d['id']}/issue"

        r = await doctor.post(issue, {"signature": await doctor.sign(canonical, as_user="doctor2")})
        assert r.status_code == 422 and "another person" in r.json()["detail"]  # signer mismatch

        altered = json.loads(canonical)
        altered["lines"][0]["quantity"] = 210
        changed = canonical_json(altered)
        r = await doctor.post(issue, {"signature": await doctor.sign(changed)})
        assert r.status_code == 422 and "refused" in r.json()["detail"]  # signed other bytes
        r = await doctor.post(issue, {"signature": await doctor.sign(changed),
                                      "content": base64.b64encode(changed).decode()})
        assert r.status_code == 422 and "changed after" in r.json()["detail"]

        for garbage in ("", "not base64!", base64.b64encode(b"junk").decode()):
            assert (await doctor.post(issue, {"signature": garbage})).status_code in (400, 422)
        r = await doctor2.post(issue, {"signature": await doctor2.sign(canonical)})
        assert r.status_code == 403  # someone else's draft
        assert (await doctor.get(f"/prescriptions/{d['id']}")).json()["status"] == "draft"

        r = await doctor.post(issue, {"signature": await doctor.sign(canonical)})
        assert r.status_code == 200 and r.json()["verification"]["signer_pinfl"] == PINFLS["doctor"]

        rx = await issued(doctor)
        theirs = canonical_json({"action": "dispense", "number": rx["number"], "items": [item()]})
        r = await dispense(pharmacist, rx["number"], [item()], await pharmacist.sign(theirs, as_user="nurse"))
        assert r.status_code == 422  # a dispense signed by someone else
        other = await pharmacist.sign(canonical_json({"action": "dispense", "number": rx["number"],
                                                      "items": [item(quantity=1)]}))
        assert (await dispense(pharmacist, rx["number"], [item()], other)).status_code == 422
        assert (await dispense(pharmacist, rx["number"], [item()])).status_code == 201
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        row = (await tx.execute(select(prescriptions).where(prescriptions.c.id == UUID(rx["id"])))).one()
    assert row.canonical == canonical_json(row.content) and row.signature  # archived with the verdict
    assert row.verification["valid"] is True and row.verification["certificate_serial"]
