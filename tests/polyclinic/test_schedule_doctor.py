"""A schedule is made only for an active doctor or resident of the facility: the polyclinic asks the
host's staff directory (``ports.staff``) about the account the body names."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import uuid4

from core.clock import utcnow
from tests.polyclinic.world import POLY, seed, settings_for
from tests.support import add_user, login, opened, serving


async def _more_staff(settings: Any) -> dict[str, Any]:
    """A suspended doctor and a doctor whose grant was revoked, both at F1."""
    async with opened(settings) as rt:
        suspended = await add_user(rt, "suspended", grants=[("F1", "doctor")])
        await rt.identity.set_status(suspended, "suspended")
        revoked = await add_user(rt, "revoked", grants=[("F1", "doctor")])
        (grant,) = await rt.identity.grants(revoked)
        await rt.identity.revoke(grant.id)
    return {"suspended": suspended, "revoked": revoked}


def _body(doctor: Any, day_offset: int) -> dict[str, Any]:
    start = (utcnow() + timedelta(days=day_offset)).replace(microsecond=0)
    return {"doctor": str(doctor), "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(minutes=30)).isoformat(), "slot_minutes": 15}


async def test_schedule_names_an_active_doctor_or_resident_of_this_facility(db_url: str) -> None:
    settings = settings_for(db_url)
    ids = await seed(settings)
    ids |= await _more_staff(settings)
    async with serving(settings) as client:
        doc = await login(client, "doctor")
        refused = {"nurse": ids["nurse"], "pharmacist": ids["pharmacist"], "unknown": uuid4(),
                   "doctor of F2": ids["doctor2"], "suspended": ids["suspended"], "revoked": ids["revoked"]}
        for n, (who, account) in enumerate(refused.items(), start=1):
            r = await client.post(f"{POLY}/schedules", json=_body(account, n), headers=doc)
            assert r.status_code == 422, (who, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            problem = r.json()
            assert "not an active doctor or resident at facility F1" in problem["detail"], who
            assert problem["errors"][0]["field"] == "doctor"
            day = (date.today() + timedelta(days=n)).isoformat()
            for d in (day, (date.today() + timedelta(days=n + 1)).isoformat()):
                q = await client.get(f"{POLY}/queue", params={"doctor": str(account), "day": d}, headers=doc)
                assert q.status_code == 200 and q.json()["slots"] == [], who  # nothing was written
        for n, role in enumerate(("doctor", "resident"), start=10):
            made = await client.post(f"{POLY}/schedules", json=_body(ids[role], n), headers=doc)
            assert made.status_code == 201, (role, made.text)
            assert [s["doctor"] for s in made.json()] == [str(ids[role])] * 2
        by_resident = await client.post(f"{POLY}/schedules", json=_body(ids["doctor"], 20),
                                        headers=await login(client, "resident"))
        assert by_resident.status_code == 201, by_resident.text


async def test_a_doctor_of_two_facilities_is_scheduled_only_where_the_request_acts(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with opened(settings) as rt:
        both = await add_user(rt, "both", grants=[("F1", "doctor"), ("F2", "resident")])
        await rt.identity.revoke(next(g.id for g in await rt.identity.grants(both) if g.facility == "F1"))
    async with serving(settings) as client:
        at_f1 = await client.post(f"{POLY}/schedules", json=_body(both, 1), headers=await login(client, "doctor"))
        assert at_f1.status_code == 422, at_f1.text  # F1's grant is gone; F2's does not count here
        at_f2 = await client.post(f"{POLY}/schedules", json=_body(both, 1),
                                  headers={**await login(client, "doctor2"), "X-Facility": "F2"})
        assert at_f2.status_code == 201, at_f2.text
