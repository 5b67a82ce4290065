"""Concurrent conflicting transitions of the operator's records, with requests that really overlap:
installation requests, review campaigns with their decisions, accounts and grants. One winner where
only one is possible, the others 409, never a 5xx, and the history holds only the winners."""

from __future__ import annotations

import asyncio

from tests.access.world import pinfl
from tests.operator.world import seed
from tests.races import no_5xx
from tests.support import racing

OP = "/api/v1/operator"
REVIEW = f"{OP}/review"
ADMIN = "/api/v1/admin"
QUALIFIED = {"number": "DIP-2019-0042", "issuer": "Tashkent Medical Academy", "issued": "2019-06-30"}


async def test_installation_applications_and_moves_at_once(db_url: str) -> None:
    s, w = await seed(db_url)
    op = w["op"]
    async with racing(s) as client:
        body = {"facility": "F1", "modules": ["polyclinic"], "applied_on": "2026-05-20"}
        codes = no_5xx(await asyncio.gather(*(client.post(f"{OP}/installations", json=body, headers=op)
                                              for _ in range(8))))
        assert sorted(codes) == [201] + [409] * 7, codes  # one open request per module
        (made,) = (await client.get(f"{OP}/installations", headers=op)).json()
        move = f"{OP}/installations/{made['id']}/transition"
        assert (await client.post(move, json={"state": "in_progress"}, headers=op)).status_code == 200
        pair = [{"state": "installed"}, {"state": "rejected", "reason": "no licence"}] * 3
        codes = no_5xx(await asyncio.gather(*(client.post(move, json=b, headers=op) for b in pair)))
        assert sorted(codes) == [200] + [409] * 5, codes  # installed and rejected exclude each other
        won = pair[codes.index(200)]["state"]
        if won == "installed":
            off = {"state": "disabled", "reason": "licence suspended"}
            codes = no_5xx(await asyncio.gather(*(client.post(move, json=off, headers=op) for _ in range(4))))
            assert sorted(codes) == [200, 409, 409, 409], codes
        history = (await client.get(f"{OP}/installations/{made['id']}/history", headers=op)).json()
        expected = ["applied", "in_progress", won] + (["disabled"] if won == "installed" else [])
        assert [h["state"] for h in history] == expected


async def test_review_decisions_racing_the_campaigns_close(db_url: str) -> None:
    s, w = await seed(db_url)
    op = w["op"]
    async with racing(s) as client:
        users = {u["login"]: u for u in (await client.get(f"{REVIEW}/users", headers=op)).json()}
        grant = users["doc"]["grants"][0]["id"]
        for round_ in range(4):
            cid = (await client.post(f"{REVIEW}/campaigns", json={"title": f"review {round_}"},
                                     headers=op)).json()["id"]
            decide = f"{REVIEW}/campaigns/{cid}/decisions"
            certify = {"grant": grant, "decision": "certify", "comment": "still there"}
            answers = await asyncio.gather(*(client.post(decide, json=certify, headers=op) for _ in range(4)),
                                           client.post(f"{REVIEW}/campaigns/{cid}/close", headers=op),
                                           client.post(f"{REVIEW}/campaigns/{cid}/close", headers=op))
            codes = no_5xx(answers)
            assert codes[4:] == [200, 200], codes  # closing is idempotent
            assert all(c in (201, 409) for c in codes[:4]), codes
            evidence = (await client.get(f"{REVIEW}/campaigns/{cid}/evidence", headers=op)).json()
            assert len(evidence) == codes[:4].count(201)  # a 409 left no decision behind
            late = await client.post(decide, json=certify, headers=op)
            assert late.status_code == 409
        cid = (await client.post(f"{REVIEW}/campaigns", json={"title": "revoke"}, headers=op)).json()["id"]
        revoke = {"grant": grant, "decision": "revoke", "comment": "left"}
        codes = no_5xx(await asyncio.gather(*(client.post(f"{REVIEW}/campaigns/{cid}/decisions", json=revoke,
                                                          headers=op) for _ in range(5)),
                                            client.post(f"{ADMIN}/grants/{grant}/revoke", headers=op)))
        assert len([c for c in codes if c < 300]) == 1 and codes.count(409) == 5, codes  # revoked once


async def test_grants_and_status_changes_of_one_account_at_once(db_url: str) -> None:
    s, w = await seed(db_url)
    op = w["op"]
    async with racing(s) as client:
        for n in range(4):
            new = {"login": f"nurse.{n}", "kind": "staff", "full_name": "Karimova Dilnoza",
                   "pinfl": pinfl(10 + n), "password": "a-long-enough-password"}
            made = await client.post(f"{ADMIN}/accounts", json=new, headers=op)
            assert made.status_code == 201, made.text
            uid = made.json()["id"]
            nurse = {"facility": "F1", "role": "nurse", "qualification": QUALIFIED}
            answers = await asyncio.gather(
                *(client.post(f"{ADMIN}/accounts/{uid}/grants", json=nurse, headers=op) for _ in range(5)),
                client.post(f"{ADMIN}/accounts/{uid}/deactivate", headers=op),
                client.post(f"{ADMIN}/accounts/{uid}/suspend", headers=op))
            codes = no_5xx(answers)
            assert codes[:5].count(201) <= 1 and codes[:5].count(409) >= 4, codes  # one live grant at most
            # a deactivation that read "active" loses to a suspension committed meanwhile (409)
            assert codes[5] == 200 or codes[6] == 200, codes
            detail = (await client.get(f"{ADMIN}/accounts/{uid}", headers=op)).json()
            assert detail["account"]["status"] == ("deactivated" if codes[5] == 200 else "suspended")
            assert len(detail["grants"]) == codes[:5].count(201)
            if codes[5] == 200:
                late = await client.post(f"{ADMIN}/accounts/{uid}/grants", json=nurse, headers=op)
                assert late.status_code == 409  # a deactivated account holds no new role
