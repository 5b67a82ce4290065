"""Installation requests: every transition, and the module's access appearing and vanishing with it."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from host.audit import audit_log
from host.web.app import create_app
from tests.operator.world import seed
from tests.support import opened

OP = "/api/v1/operator"


async def test_install_enables_and_disable_blocks_at_once(db_url: str) -> None:
    s, w = await seed(db_url)
    op, doc = w["op"], w["doc"]
    async with AsyncTestClient(create_app(s)) as client:
        async def doctor_status() -> int:
            return (await client.get("/api/v1/polyclinic/", headers=doc)).status_code

        assert await doctor_status() == 403
        r = await client.post(f"{OP}/installations", headers=op,
                              json={"facility": "F1", "modules": ["polyclinic"], "applied_on": "2026-05-20"})
        assert r.status_code == 201, r.text
        (made,) = r.json()
        assert made["due_on"] == "2026-06-15" and made["state"] == "applied"
        again = await client.post(f"{OP}/installations", headers=op,
                                  json={"facility": "F1", "modules": ["polyclinic"], "applied_on": "2026-05-21"})
        assert again.status_code == 409  # one open request per module
        move = f"{OP}/installations/{made['id']}/transition"
        assert (await client.post(move, json={"state": "installed"}, headers=op)).status_code == 409
        assert (await client.post(move, json={"state": "in_progress"}, headers=op)).status_code == 200
        assert await doctor_status() == 403
        installed = await client.post(move, json={"state": "installed"}, headers=op)
        assert installed.status_code == 200 and installed.json()["installed_on"]
        assert await doctor_status() == 200
        bare = await client.post(move, json={"state": "disabled"}, headers=op)
        assert bare.status_code == 422 and await doctor_status() == 200  # no reason: nothing changed
        off = await client.post(move, json={"state": "disabled", "reason": "licence suspended"}, headers=op)
        assert off.status_code == 200 and off.json()["reason"] == "licence suspended"
        assert await doctor_status() == 403
        assert (await client.post(move, json={"state": "installed"}, headers=op)).status_code == 200
        assert await doctor_status() == 200
        history = (await client.get(f"{OP}/installations/{made['id']}/history", headers=op)).json()
        assert [(h["state"], h["by"]) for h in history] == [
            ("applied", "op"), ("in_progress", "op"), ("installed", "op"), ("disabled", "op"),
            ("installed", "op")]
        assert history[3]["reason"] == "licence suspended"
        # a doctor may not touch the operator's routes
        assert (await client.post(move, json={"state": "disabled", "reason": "x"}, headers=doc)).status_code == 403
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        rows = (await tx.execute(select(audit_log.c.action, audit_log.c.login, audit_log.c.request_id)
                                 .where(audit_log.c.action.like("operator.installation/%"),
                                        audit_log.c.outcome == "ok"))).all()
    assert [r.action for r in rows] == [
        "operator.installation/apply", "operator.installation/in_progress", "operator.installation/installed",
        "operator.installation/disabled", "operator.installation/installed"]
    assert all(r.login == "op" and r.request_id for r in rows)


async def test_rejection_needs_a_reason_and_is_final(db_url: str) -> None:
    s, w = await seed(db_url)
    op = w["op"]
    async with AsyncTestClient(create_app(s)) as client:
        r = await client.post(f"{OP}/installations", headers=op,
                              json={"facility": "F1", "modules": ["erecipe", "polyclinic"], "applied_on": "2026-12-10"})
        assert r.status_code == 201 and {m["due_on"] for m in r.json()} == {"2026-12-30"}
        first = r.json()[0]["id"]
        move = f"{OP}/installations/{first}/transition"
        assert (await client.post(move, json={"state": "rejected"}, headers=op)).status_code == 422
        no = await client.post(move, json={"state": "rejected", "reason": "no licence for inpatient care"},
                               headers=op)
        assert no.status_code == 200 and no.json()["state"] == "rejected"
        assert (await client.post(move, json={"state": "in_progress"}, headers=op)).status_code == 409
        bad = [{"facility": "F9", "modules": ["erecipe"], "applied_on": "2026-12-10"},
               {"facility": "F1", "modules": ["astrology"], "applied_on": "2026-12-10"},
               {"facility": "F1", "modules": ["erecipe"], "applied_on": "not-a-date"}]
        for body in bad:
            assert (await client.post(f"{OP}/installations", json=body, headers=op)).status_code in (400, 422)
        listed = (await client.get(f"{OP}/installations", params={"state": "rejected"}, headers=op)).json()
        assert [i["id"] for i in listed] == [first]


async def test_override_moves_the_due_date_of_new_applications(db_url: str) -> None:
    s, w = await seed(db_url)
    op = w["op"]
    async with AsyncTestClient(create_app(s)) as client:
        day_off = {"day": "2026-06-10", "working": False, "reason": "announced by decree later"}
        assert (await client.put(f"{OP}/calendar/overrides", json=day_off, headers=op)).status_code == 200
        r = await client.post(f"{OP}/installations", headers=op,
                              json={"facility": "F1", "modules": ["polyclinic"], "applied_on": "2026-06-01"})
        assert r.json()[0]["due_on"] == "2026-06-23"
        listed = (await client.get(f"{OP}/calendar/overrides", headers=op)).json()
        assert listed == [day_off]
        # withdrawn: the package's calendar applies again; a second withdrawal finds nothing (409)
        assert (await client.delete(f"{OP}/calendar/overrides/2026-06-10", headers=op)).status_code == 204
        assert (await client.delete(f"{OP}/calendar/overrides/2026-06-10", headers=op)).status_code == 409
        assert (await client.get(f"{OP}/calendar/overrides", headers=op)).json() == []
        r = await client.post(f"{OP}/installations", headers=op,
                              json={"facility": "F1", "modules": ["erecipe"], "applied_on": "2026-06-01"})
        assert r.json()[0]["due_on"] == "2026-06-22"


async def test_facilities_crud_with_tin_and_licence(db_url: str) -> None:
    s, w = await seed(db_url)
    op = w["op"]
    new = {"id": "PH-7", "name": "Dorixona 7", "kind": "pharmacy", "region": "Samarkand", "tin": "301234567",
           "licence_number": "L-2025-77", "licence_valid_until": "2030-01-01"}
    async with AsyncTestClient(create_app(s)) as client:
        for bad in ({**new, "tin": "12345"}, {**new, "tin": "30123456x"}, {k: v for k, v in new.items()
                                                                             if k != "licence_number"}):
            assert (await client.post(f"{OP}/facilities", json=bad, headers=op)).status_code in (400, 422)
        made = await client.post(f"{OP}/facilities", json=new, headers=op)
        assert made.status_code == 201 and made.json() == {k: v for k, v in new.items()}
        assert (await client.post(f"{OP}/facilities", json=new, headers=op)).status_code == 409
        changed = {**{k: v for k, v in new.items() if k != "id"}, "licence_valid_until": "2031-06-30"}
        put = await client.put(f"{OP}/facilities/PH-7", json=changed, headers=op)
        assert put.status_code == 200 and put.json()["licence_valid_until"] == "2031-06-30"
        assert (await client.put(f"{OP}/facilities/NOPE", json=changed, headers=op)).status_code == 404
        listed = [f["id"] for f in (await client.get(f"{OP}/facilities", headers=op)).json()]
        assert listed == ["F1", "PH-7"]
        assert (await client.get(f"{OP}/facilities", headers=w["doc"])).status_code == 403
