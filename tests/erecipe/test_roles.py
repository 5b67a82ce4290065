"""Each role's allowed and refused actions: doctors and residents prescribe, pharmacists dispense,
nurses only read; the pharmacist's view carries what dispensing needs and no diagnosis."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.erecipe.rx import PATIENT, actor, dispense, draft_body, issued, item, seed, settings_for
from tests.support import serving


async def test_role_matrix(db_url: str, tmp_path: Path) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    async with serving(s) as client:
        people = {u: await actor(client, signer, u) for u in ("doctor", "resident", "nurse", "pharmacist")}
        rx = await issued(people["doctor"])
        for user, who in people.items():
            draft = await who.post("/prescriptions/drafts", draft_body())
            assert draft.status_code == (201 if user in ("doctor", "resident") else 403), (user, draft.text)
            read = await who.get(f"/prescriptions/{rx['id']}")
            assert read.status_code == (200 if user != "pharmacist" else 403), user
            listed = await who.get("/prescriptions/", patient=PATIENT)
            assert listed.status_code == (200 if user != "pharmacist" else 403), user
            find = await who.get("/dispensing/", number=rx["number"])
            assert find.status_code == (200 if user == "pharmacist" else 403), user
            assert (await who.get("/")).status_code == 200
            if user != "pharmacist":
                r = await dispense(who, rx["number"], [item(quantity=1)])
                assert r.status_code == 403, user
                cancel = await who.post(f"/prescriptions/{rx['id']}/cancel",
                                        {"reason": "testing roles", "signature": "AAAA"})
                assert cancel.status_code == (403 if user != "doctor" else 422), user
        d = (await people["doctor"].post("/prescriptions/drafts", draft_body())).json()
        canonical = base64.b64decode(d["canonical"])
        nurse = people["nurse"]
        r = await nurse.post(f"/prescriptions/{d['id']}/issue", {"signature": await nurse.sign(canonical)})
        assert r.status_code == 403
        view = (await people["pharmacist"].get("/dispensing/", number=rx["number"])).json()[0]
        assert "diagnosis" not in view and "content" not in view and view["lines"][0]["remaining"] == 21
        assert (await client.get("/api/v1/erecipe/prescriptions/drafts")).status_code in (401, 405)
        anonymous = await client.post("/api/v1/erecipe/prescriptions/drafts", json=draft_body())
        assert anonymous.status_code == 401
