"""The yearly access review: inventory, certify/revoke with comments, evidence, and the automatic
suspension at day 366 with the clock under the test's control."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from core import clock
from host.audit import audit_log
from host.web.app import create_app
from tests.access.world import staff, token
from tests.operator.world import seed
from tests.support import opened

REVIEW = "/api/v1/operator/review"


def at(monkeypatch: pytest.MonkeyPatch, moment) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(clock, "utcnow", lambda: moment)


async def test_campaign_certify_revoke_and_suspension_at_day_366(db_url: str, monkeypatch) -> None:
    s, w = await seed(db_url)
    async with opened(s) as rt:
        await staff(rt, "nurse", [("F1", "nurse")], n=3)
        await staff(rt, "res", [("F1", "resident")], n=4)
        await token(rt, "doc", client="10.0.0.1")
        await token(rt, "doc", client="10.0.0.2")  # the same account from a second address
    op, doc = w["op"], w["doc"]
    start = clock.utcnow()
    async with AsyncTestClient(create_app(s)) as client:
        users = {u["login"]: u for u in (await client.get(f"{REVIEW}/users", headers=op)).json()}
        assert set(users) >= {"op", "doc", "nurse", "res"}
        assert [(g["facility"], g["role"]) for g in users["doc"]["grants"]] == [("F1", "doctor")]
        assert users["doc"]["grants"][0]["qualification"]["number"] == "DIP-doc"
        assert "credential_sharing" in users["doc"]["flags"]
        assert "review_due" not in users["doc"]["flags"]
        assert (await client.get(f"{REVIEW}/users", headers=doc)).status_code == 403

        at(monkeypatch, start + timedelta(days=300))
        camp = await client.post(f"{REVIEW}/campaigns", json={"title": "2027 yearly review"}, headers=op)
        assert camp.status_code == 201
        cid = camp.json()["id"]
        decide = f"{REVIEW}/campaigns/{cid}/decisions"
        nurse_grant, res_grant = users["nurse"]["grants"][0]["id"], users["res"]["grants"][0]["id"]
        assert (await client.post(decide, json={"grant": nurse_grant, "decision": "certify"},
                                  headers=op)).status_code == 422  # a comment is required
        ok = await client.post(decide, headers=op,
                               json={"grant": nurse_grant, "decision": "certify", "comment": "still on ward 3"})
        assert ok.status_code == 201, ok.text
        gone = await client.post(decide, headers=op,
                                 json={"grant": res_grant, "decision": "revoke", "comment": "left in June"})
        assert gone.status_code == 201
        assert (await client.post(decide, headers=op, json={"grant": res_grant, "decision": "revoke",
                                                            "comment": "twice"})).status_code == 409

        at(monkeypatch, start + timedelta(days=340))
        users = {u["login"]: u for u in (await client.get(f"{REVIEW}/users", headers=op)).json()}
        assert "review_due" in users["doc"]["flags"] and users["nurse"]["flags"] == ["inactive"]
        assert users["res"]["grants"] == []
        assert (await client.post(f"{REVIEW}/enforce", headers=op)).json() == {"suspended": []}
        assert (await client.get("/api/v1/medcard/", headers=doc)).status_code == 200

        at(monkeypatch, start + timedelta(days=366))
        users = {u["login"]: u for u in (await client.get(f"{REVIEW}/users", headers=op)).json()}
        assert "certification_lapsed" in users["doc"]["flags"]
        assert (await client.post(f"{REVIEW}/enforce", headers=op)).json() == {"suspended": ["doc"]}
        assert (await client.get("/api/v1/medcard/", headers=doc)).status_code == 401

        evidence = (await client.get(f"{REVIEW}/campaigns/{cid}/evidence", headers=op)).json()
        assert [(e["login"], e["role"], e["decision"], e["by"]) for e in evidence] == [
            ("nurse", "nurse", "certify", "op"), ("res", "resident", "revoke", "op")]
        raw = await client.get(f"{REVIEW}/campaigns/{cid}/evidence", params={"format": "csv"}, headers=op)
        rows = list(csv.DictReader(io.StringIO(raw.text)))
        assert raw.headers["content-type"].startswith("text/csv")
        assert [(r["login"], r["decision"], r["comment"]) for r in rows] == [
            ("nurse", "certify", "still on ward 3"), ("res", "revoke", "left in June")]
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        actions = (await tx.execute(select(audit_log.c.action).where(
            audit_log.c.action.like("operator.review/%"), audit_log.c.outcome == "ok"))).scalars().all()
    reads = ("operator.review/users", "operator.review/evidence")  # reads of people's data, audited
    assert [a for a in actions if a not in reads] == [
        "operator.review/open", "operator.review/certify", "operator.review/revoke", "operator.review/suspend"]
    assert "operator.review/users" in actions and actions.count("operator.review/evidence") == 2


async def test_no_automatic_suspension_when_configured_off(db_url: str, monkeypatch) -> None:
    s, w = await seed(db_url, auto_suspend=False, inactive_days=10)
    async with AsyncTestClient(create_app(s)) as client:
        at(monkeypatch, clock.utcnow() + timedelta(days=400))
        assert (await client.post(f"{REVIEW}/enforce", headers=w["op"])).json() == {"suspended": []}
        users = {u["login"]: u for u in (await client.get(f"{REVIEW}/users", headers=w["op"])).json()}
        assert {"certification_lapsed", "inactive"} <= set(users["doc"]["flags"])
        assert (await client.get("/api/v1/medcard/", headers=w["doc"])).status_code == 200


async def test_the_host_suspends_lapsed_accounts_by_itself(db_url: str, monkeypatch) -> None:
    """No operator action and no cron job: the running host's own timer suspends at day 366."""
    s, w = await seed(db_url, enforce_every_hours=1 / 3600)  # every second, for the test
    s = s.with_(run_relay=True)  # the process does its background work
    async with AsyncTestClient(create_app(s)) as client:
        assert (await client.get("/api/v1/medcard/", headers=w["doc"])).status_code == 200
        at(monkeypatch, clock.utcnow() + timedelta(days=366))
        for _ in range(100):
            if (await client.get("/api/v1/medcard/", headers=w["doc"])).status_code == 401:
                break
            await asyncio.sleep(0.1)
        assert (await client.get("/api/v1/medcard/", headers=w["doc"])).status_code == 401
