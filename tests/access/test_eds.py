"""EDS sign-in: a one-time server challenge, signed by the account holder's own key."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

import adapters.identity.local as local
from host import adapters
from host.audit import audit_log
from tests.access.world import FakeSignature, app, bearer, facilities, pinfl, settings, staff
from tests.support import ALL_MODULES, opened

CHALLENGE, SIGNED = "/api/v1/auth/challenge", "/api/v1/auth/login/eds"


async def seed(s: Any) -> None:
    async with opened(s) as rt:
        await facilities(rt, {"F1": ALL_MODULES})
        await staff(rt, "doctor", [("F1", "doctor")], n=1)


async def challenge(client: AsyncTestClient[Any], login: str = "doctor") -> dict[str, Any]:
    r = await client.post(CHALLENGE, json={"login": login})
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


async def test_signed_challenge_signs_in_once_and_only_for_the_holder(db_url: str, monkeypatch: Any) -> None:
    s = settings(db_url)
    await seed(s)
    fake = FakeSignature()
    async with AsyncTestClient(app(s, signature=fake)) as client:
        c = await challenge(client)
        assert c["challenge"].startswith("shifo-login:") and 0 < c["expires_in"] <= 300
        answer = {"challenge_id": c["challenge_id"], "signature": fake.sign(c["challenge"], pinfl(1))}
        r = await client.post(SIGNED, json=answer)
        assert r.status_code == 200, r.text
        reached = await client.get("/api/v1/medcard", headers=bearer(r.json()["access_token"]))
        assert reached.status_code == 200
        assert (await client.post(SIGNED, json=answer)).status_code == 401  # one-time: a replay fails

        c = await challenge(client)
        wrong_signer = {"challenge_id": c["challenge_id"], "signature": fake.sign(c["challenge"], pinfl(2))}
        assert (await client.post(SIGNED, json=wrong_signer)).status_code == 401
        retry = {"challenge_id": c["challenge_id"], "signature": fake.sign(c["challenge"], pinfl(1))}
        assert (await client.post(SIGNED, json=retry)).status_code == 401  # spent by the failed attempt

        c = await challenge(client)
        other_text = {"challenge_id": c["challenge_id"], "signature": fake.sign("something else", pinfl(1))}
        assert (await client.post(SIGNED, json=other_text)).status_code == 401
        c = await challenge(client)
        garbage = {"challenge_id": c["challenge_id"], "signature": "%%%not base64%%%"}
        assert (await client.post(SIGNED, json=garbage)).status_code == 401

        ghost = await challenge(client, "no-such-user")  # answered alike for unknown logins
        assert set(ghost) == set(c) and ghost["expires_in"] == c["expires_in"]
        ghost_answer = {"challenge_id": ghost["challenge_id"],
                        "signature": fake.sign(ghost["challenge"], pinfl(1))}
        assert (await client.post(SIGNED, json=ghost_answer)).status_code == 401

        c = await challenge(client)
        later = local.utcnow() + timedelta(minutes=10)
        monkeypatch.setattr(local, "utcnow", lambda: later)
        late = {"challenge_id": c["challenge_id"], "signature": fake.sign(c["challenge"], pinfl(1))}
        assert (await client.post(SIGNED, json=late)).status_code == 401  # expired
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        rows = await tx.execute(select(audit_log.c.outcome).where(audit_log.c.action == "auth/login_eds")
                                .order_by(audit_log.c.at, audit_log.c.chain, audit_log.c.seq))
        outcomes = [r.outcome for r in rows]
    assert outcomes == ["ok"] + ["failed"] * 7  # every attempt is audited, won or lost


async def test_with_the_dev_signature_adapter(db_url: str, tmp_path: Any) -> None:
    s = settings(db_url).with_(signature_adapter="dev")
    s = s.with_(extra={**s.extra, "signature_dev_keys_dir": str(tmp_path / "keys")})
    await seed(s)
    dev = await adapters.create("signature", "dev", s)
    async with AsyncTestClient(app(s)) as client:  # the app builds its own dev adapter from settings
        c = await challenge(client)
        mine = await dev.sign(c["challenge"].encode(), signer_pinfl=pinfl(1))
        ok = await client.post(SIGNED, json={"challenge_id": c["challenge_id"],
                                             "signature": base64.b64encode(mine).decode()})
        assert ok.status_code == 200, ok.text
        c = await challenge(client)
        theirs = await dev.sign(c["challenge"].encode(), signer_pinfl=pinfl(2))
        refused = await client.post(SIGNED, json={"challenge_id": c["challenge_id"],
                                                  "signature": base64.b64encode(theirs).decode()})
        assert refused.status_code == 401
