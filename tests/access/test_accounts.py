"""The operator's account administration: grants need their qualification; every change is audited."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from host.audit import audit_log
from tests.access.world import app, bearer, facilities, pinfl, settings, staff, token
from tests.support import ALL_MODULES, opened

QUALIFIED = {"number": "DIP-2019-0042", "issuer": "Tashkent Medical Academy", "issued": "2019-06-30"}


async def audit_actions(s: Any) -> list[tuple[str, str | None, str]]:
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        c = audit_log.c
        rows = await tx.execute(select(audit_log).order_by(c.at, c.chain, c.seq))
        return [(r.action, r.login, r.outcome) for r in rows if r.action.startswith("admin.")]


async def test_operator_opens_an_account_and_grants_a_qualified_role(db_url: str) -> None:
    s = settings(db_url)
    async with opened(s) as rt:
        await facilities(rt, {"F1": ALL_MODULES})
        await staff(rt, "op", kind="operator", n=1)
        await staff(rt, "doc", [("F1", "doctor")], n=2)
        op, doc = bearer(await token(rt, "op")), bearer(await token(rt, "doc"))
    async with AsyncTestClient(app(s)) as client:
        new = {"login": "nurse.karimova", "kind": "staff", "full_name": "Karimova Dilnoza",
               "pinfl": pinfl(3), "password": "a-long-enough-password"}
        assert (await client.post("/api/v1/admin/accounts", json=new, headers=doc)).status_code == 403
        assert (await client.post("/api/v1/admin/accounts", json=new)).status_code == 401
        created = await client.post("/api/v1/admin/accounts", json=new, headers=op)
        assert created.status_code == 201, created.text
        uid = created.json()["id"]
        assert (await client.post("/api/v1/admin/accounts", json=new, headers=op)).status_code == 409
        grants = f"/api/v1/admin/accounts/{uid}/grants"

        bare = await client.post(grants, json={"facility": "F1", "role": "nurse"}, headers=op)
        assert bare.status_code == 422
        assert {e["field"] for e in bare.json()["errors"]} == {
            "qualification_number", "qualification_issuer", "qualification_date"}
        no_education = await client.post(grants, json={"facility": "F1", "role": "pharmacist",
                                                       "qualification": QUALIFIED}, headers=op)
        assert no_education.status_code == 422
        assert [e["field"] for e in no_education.json()["errors"]] == ["education"]
        nurse_at = {"role": "nurse", "qualification": QUALIFIED}
        unknown = await client.post(grants, json={"facility": "F9", **nurse_at}, headers=op)
        assert unknown.status_code == 422
        bad_role = await client.post(grants, json={"facility": "F1", "role": "surgeon-in-chief",
                                                   "qualification": QUALIFIED}, headers=op)
        assert bad_role.status_code == 422
        detail = (await client.get(f"/api/v1/admin/accounts/{uid}", headers=op)).json()
        assert detail["grants"] == []  # refused grants wrote nothing

        ok = await client.post(grants, json={"facility": "F1", **nurse_at}, headers=op)
        assert ok.status_code == 201 and ok.json()["qualification"]["number"] == "DIP-2019-0042"
        again = await client.post(grants, json={"facility": "F1", **nurse_at}, headers=op)
        assert again.status_code == 409
        educated = {**QUALIFIED, "education": "higher pharmaceutical, Tashkent Pharmaceutical Institute"}
        pharmacist = await client.post(grants, json={"facility": "F1", "role": "pharmacist",
                                                     "qualification": educated}, headers=op)
        assert pharmacist.status_code == 201
        listed = (await client.get("/api/v1/admin/accounts", headers=op)).json()
        op_id = next(a["id"] for a in listed if a["login"] == "op")
        to_operator = await client.post(f"/api/v1/admin/accounts/{op_id}/grants", headers=op,
                                        json={"facility": "F1", "role": "doctor", "qualification": QUALIFIED})
        assert to_operator.status_code == 409  # operators hold no clinical role

        signed_in = await client.post("/api/v1/auth/login", json={"login": "nurse.karimova",
                                                                   "password": "a-long-enough-password"})
        nurse = bearer(signed_in.json()["access_token"])
        assert (await client.get("/api/v1/medcard", headers=nurse)).status_code == 200
    # refusals, changes and reads are audited; a refused change (422/409) wrote nothing but its own
    # audit entry (the change's unit rolled back)
    refused = [("admin.account/grant", "op", "refused:422")] * 4
    assert await audit_actions(s) == [
        ("admin.account/manage", "doc", "denied:403"), ("admin.account/manage", None, "denied:401"),
        ("admin.account/create", "op", "ok"), ("admin.account/create", "op", "refused:409"), *refused,
        ("admin.account/read", "op", "ok"), ("admin.account/grant", "op", "ok"),
        ("admin.account/grant", "op", "refused:409"), ("admin.account/grant", "op", "ok"),
        ("admin.account/list", "op", "ok"), ("admin.account/grant", "op", "refused:409")]


async def test_operators_read_no_clinical_data(db_url: str) -> None:
    s = settings(db_url)
    async with opened(s) as rt:
        await facilities(rt, {"F1": ALL_MODULES})
        await staff(rt, "op", [], kind="operator", n=1)
        op = bearer(await token(rt, "op"))
    async with AsyncTestClient(app(s)) as client:
        for path in ("/api/v1/medcard", "/api/v1/medcard/patients?pinfl=30101900000001"):
            assert (await client.get(path, headers={**op, "X-Facility": "F1"})).status_code == 403


async def test_adapter_refuses_unqualified_clinical_grants(db_url: str) -> None:
    import datetime as dt

    import pytest

    from core.errors import ValidationFailed

    async with opened(settings(db_url)) as rt:
        uid = await staff(rt, "someone", n=1)
        with pytest.raises(ValidationFailed, match="qualification"):
            await rt.identity.grant(uid, "F1", "doctor", qualification_number=" ", qualification_issuer="MoH",
                                    qualification_date=dt.date(2020, 1, 1))
        with pytest.raises(ValidationFailed, match="future"):
            await rt.identity.grant(uid, "F1", "doctor", qualification_number="D-1",
                                    qualification_issuer="MoH", qualification_date=dt.date(2999, 1, 1))
        async with rt.storage.transaction(readonly=True) as tx:
            assert (await tx.execute(select(func.count()).select_from(audit_log))).scalar_one() == 0
        assert await rt.identity.grants(uid) == []
