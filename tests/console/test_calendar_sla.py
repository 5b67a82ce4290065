"""The console's calendar page (override days added with the API's operation and audit entry,
removed with their own) and the SLA picture: a well-formed SVG with a bar group per month, and a
CSV whose figures are the JSON SLA route's, month by month."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from core.clock import utcnow
from host.audit import audit_log
from host.console_web.sla_pages import COLUMNS
from host.web.app import create_app
from host.web.guard import CONSOLE_COOKIE
from tests.access.world import staff, token
from tests.console.support import HTML, console_login
from tests.operator.world import seed
from tests.support import opened

OP = "/api/v1/operator"
SVG = "{http://www.w3.org/2000/svg}"


async def _audit(s: Any, action: str) -> list[Any]:
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        return (await tx.execute(select(audit_log).where(audit_log.c.action == action)
                                 .order_by(audit_log.c.at))).all()


def _month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


async def test_calendar_and_sla_pages(db_url: str) -> None:
    s, w = await seed(db_url)
    async with opened(s) as rt:
        await staff(rt, "pat", kind="patient", n=9)
        others = {who: await token(rt, who) for who in ("doc", "pat")}
    op, today = w["op"], utcnow().date()
    late_on, overdue_on = today - timedelta(days=70), today - timedelta(days=40)
    async with AsyncTestClient(create_app(s)) as client:
        for who, tok in others.items():  # not an operator: refused, nothing written
            client.cookies.set(CONSOLE_COOKIE, tok, path="/console")
            for r in (await client.get("/console/calendar", headers=HTML, follow_redirects=False),
                      await client.get("/console/sla/export.csv", follow_redirects=False),
                      await client.post("/console/calendar/add", headers=HTML, follow_redirects=False,
                                        data={"day": "2027-01-04", "working": "0", "reason": "x"})):
                assert r.status_code in (303, 401, 403), who
                assert r.status_code != 303 or r.headers["location"].startswith("/console/login")
            client.cookies.clear()
        csrf = await console_login(client, "op")

        # --- calendar: add (the API's upsert), refusals, remove
        page = await client.get("/console/calendar", headers=HTML)
        assert page.status_code == 200 and 'action="/console/calendar/add"' in page.text
        day = {"day": "2027-01-04", "working": "0", "reason": "Decree 12: extra day off"}
        assert (await client.post("/console/calendar/add", headers=HTML, data=day)).status_code == 403
        assert (await client.post("/console/calendar/add", headers=HTML,
                                  data={**day, "day": "4 Jan", "csrf": csrf})).status_code == 422
        r = await client.post("/console/calendar/add", headers=HTML, follow_redirects=False, data={**day, "csrf": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/console/calendar"
        listed = (await client.get(f"{OP}/calendar/overrides", headers=op)).json()
        assert listed == [{"day": "2027-01-04", "working": False, "reason": "Decree 12: extra day off"}]
        page = await client.get("/console/calendar", headers=HTML)
        assert 'id="override-2027-01-04"' in page.text and 'action="/console/calendar/remove"' in page.text
        gone = {"day": "2027-01-04"}
        assert (await client.post("/console/calendar/remove", headers=HTML, data=gone)).status_code == 403
        assert len((await client.get(f"{OP}/calendar/overrides", headers=op)).json()) == 1
        r = await client.post("/console/calendar/remove", headers=HTML, follow_redirects=False,
                              data={**gone, "csrf": csrf})
        assert r.status_code == 303 and (await client.get(f"{OP}/calendar/overrides", headers=op)).json() == []
        again = await client.post("/console/calendar/remove", headers=HTML, data={**gone, "csrf": csrf})
        assert again.status_code == 409 and "no override day" in again.text

        # --- SLA: one late, one on time, one overdue (installed today where installed)
        for module, applied, moves in (("polyclinic", late_on, ("in_progress", "installed")),
                                       ("erecipe", today, ("in_progress", "installed")),
                                       ("medcard", overdue_on, ())):
            r = await client.post(f"{OP}/installations", headers=op, json={
                "facility": "F1", "modules": [module], "applied_on": applied.isoformat()})
            assert r.status_code == 201, r.text
            for state in moves:
                assert (await client.post(f"{OP}/installations/{r.json()[0]['id']}/transition", headers=op,
                                          json={"state": state})).status_code == 200
        page = await client.get("/console/sla", headers=HTML)
        assert page.status_code == 200 and page.text.count("<svg") == 2
        assert 'href="/console/sla/export.csv?months=12"' in page.text
        chart = await client.get("/console/sla/chart.svg", params={"months": 6})
        assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
        groups = ET.fromstring(chart.text).iter(f"{SVG}g")
        bars = {g.get("data-label"): {r.get("class"): int(r.get("data-value") or 0) for r in g.iter(f"{SVG}rect")}
                for g in groups}
        assert len(bars) == 6 and list(bars)[-1] == today.strftime("%Y-%m")
        assert bars[late_on.strftime("%Y-%m")]["bar late"] == 1
        assert bars[today.strftime("%Y-%m")]["bar on-time"] >= 1
        assert sum(b["bar on-time"] for b in bars.values()) == 1 and sum(b["bar late"] for b in bars.values()) == 1

        exported = await client.get("/console/sla/export.csv", params={"months": 6})
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert tuple(exported.text.splitlines()[0].split(",")) == COLUMNS
        assert {r["month"] for r in rows} == {d.strftime("%Y-%m") for d in (late_on, overdue_on, today)}
        for row in rows:
            start = date.fromisoformat(row["month"] + "-01")
            api = (await client.get(f"{OP}/sla", headers=op, params={
                "period_from": start.isoformat(), "period_to": _month_end(start).isoformat()})).json()
            [line] = [x for x in api["regions"] if x["region"] == row["region"]]
            assert {k: int(row[k]) for k in COLUMNS[2:]} == {k: line[k] for k in COLUMNS[2:]}

    [added] = await _audit(s, "operator.calendar/override")
    assert (added.login, added.object, added.detail, added.outcome) == (
        "op", "2027-01-04", "day off: Decree 12: extra day off", "ok")
    [removed] = await _audit(s, "operator.calendar/override-remove")
    assert (removed.login, removed.object, removed.detail) == ("op", "2027-01-04",
                                                               "was day off: Decree 12: extra day off")
    assert added.request_id and removed.request_id
