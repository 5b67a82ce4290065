"""The console's installation board: cards by state with due dates and working days left (due soon
and overdue marked), moves and module enable/disable through the API's own service with its audit
entries, refusals shown on the page, no CSRF token no change, and only operators get in."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from core.clock import utcnow
from host.audit import audit_log
from host.operator.calendar import WorkingCalendar
from host.web.app import create_app
from host.web.guard import CONSOLE_COOKIE
from tests.access.world import staff, token
from tests.console.support import HTML, console_login
from tests.operator.world import seed
from tests.support import opened

OP = "/api/v1/operator"
BOARD = "/console/requests"


def _due_soon_application(today: date) -> date:
    """An application date whose due date is 1 to 3 working days from today."""
    cal, day = WorkingCalendar(), today
    while not 0 < cal.working_days_between(today, cal.due(day)) <= 3:
        day -= timedelta(days=1)
    return day


def _column(html: str, state: str) -> str:
    found = re.search(rf'<section class="column" id="column-{state}".*?</section>', html, re.S)
    assert found, state
    return found.group(0)


def _card_class(html: str, iid: str) -> str:
    found = re.search(rf'<article class="card ?([a-z-]*)" id="request-{iid}"', html)
    assert found, iid
    return found.group(1)


def refused(r: Any, who: str) -> None:
    """403, or (a session that is not staff's: a patient's) the way to the sign-in page."""
    assert r.status_code == 403 or (r.status_code == 303 and r.headers["location"].startswith("/console/login")), who


async def _audit(s: Any) -> list[Any]:
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        return (await tx.execute(select(audit_log).where(audit_log.c.action.like("operator.installation/%"))
                                 .order_by(audit_log.c.at))).all()


async def test_board_moves_and_refusals(db_url: str) -> None:
    s, w = await seed(db_url)
    async with opened(s) as rt:
        await staff(rt, "nurse", [("F1", "nurse")], n=3)
        await staff(rt, "pat", kind="patient", n=9)
        others = {who: await token(rt, who) for who in ("doc", "nurse", "pat")}
    op, today = w["op"], utcnow().date()
    async with AsyncTestClient(create_app(s)) as client:
        r = await client.get(BOARD, headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=")
        for who, tok in others.items():  # other principals' sessions: refused, nothing done
            client.cookies.set(CONSOLE_COOKIE, tok, path="/console")
            refused(await client.get(BOARD, headers=HTML, follow_redirects=False), who)
            refused(await client.post(f"{BOARD}/apply", headers=HTML, follow_redirects=False, data={
                "facility": "F1", "module": "polyclinic", "applied_on": today.isoformat(), "csrf": "0" * 64,
            }), who)
            client.cookies.clear()
        csrf = await console_login(client, "op")
        # an application through the console's form, two more through the API
        assert (await client.post(f"{BOARD}/apply", headers=HTML, follow_redirects=False, data={
            "facility": "F1", "module": "polyclinic", "applied_on": today.isoformat(), "csrf": csrf,
        })).status_code == 303
        for module, applied in (("erecipe", today - timedelta(days=40)), ("medcard", _due_soon_application(today))):
            r = await client.post(f"{OP}/installations", headers=op, json={
                "facility": "F1", "modules": [module], "applied_on": applied.isoformat()})
            assert r.status_code == 201, r.text
        ids = {i["module"]: i for i in (await client.get(f"{OP}/installations", headers=op)).json()}
        page = (await client.get(BOARD, headers=HTML)).text
        applied = _column(page, "applied")
        assert all(f'id="request-{i["id"]}"' in applied for i in ids.values())
        assert _card_class(page, ids["erecipe"]["id"]) == "overdue"
        assert _card_class(page, ids["medcard"]["id"]) == "due-soon"
        assert _card_class(page, ids["polyclinic"]["id"]) == ""
        poly = ids["polyclinic"]
        assert poly["due_on"] in applied and "Facility F1" in applied
        move = f"{BOARD}/{poly['id']}/move"
        assert f'action="{move}"' in applied and f'action="{BOARD}/apply"' in page
        client.cookies.set("lang", "ru", path="/console")
        assert "Заявки на установку" in (await client.get(BOARD, headers=HTML)).text
        client.cookies.set("lang", "uz", path="/console")

        async def state() -> str:
            listed = (await client.get(f"{OP}/installations", headers=op)).json()
            return str(next(i["state"] for i in listed if i["id"] == poly["id"]))

        # no CSRF token, a wrong one: 403 and nothing moved
        assert (await client.post(move, headers=HTML, data={"state": "in_progress"})).status_code == 403
        assert (await client.post(move, headers=HTML, data={"state": "in_progress", "csrf": "0" * 64})
                ).status_code == 403
        assert await state() == "applied"

        for target in ("in_progress", "installed"):
            r = await client.post(move, headers=HTML, follow_redirects=False, data={"state": target, "csrf": csrf})
            assert r.status_code == 303 and r.headers["location"] == BOARD
        page = (await client.get(BOARD, headers=HTML)).text
        assert f'id="request-{poly["id"]}"' in _column(page, "installed")
        # refusals are shown on the board with their status: a move the API refuses, no reason
        r = await client.post(move, headers=HTML, data={"state": "in_progress", "csrf": csrf})
        assert r.status_code == 409 and "cannot become in_progress" in r.text and 'id="column-installed"' in r.text
        r = await client.post(move, headers=HTML, data={"state": "disabled", "reason": " ", "csrf": csrf})
        assert r.status_code == 422 and await state() == "installed"
        # disable and enable the module at the facility
        assert (await client.post(move, headers=HTML, follow_redirects=False, data={
            "state": "disabled", "reason": "licence suspended", "csrf": csrf})).status_code == 303
        assert await state() == "disabled"
        assert (await client.get("/api/v1/polyclinic/", headers={"Authorization": f"Bearer {others['doc']}"})
                ).status_code == 403
        assert (await client.post(move, headers=HTML, follow_redirects=False, data={
            "state": "installed", "csrf": csrf})).status_code == 303
        assert await state() == "installed"

    rows = [r for r in await _audit(s) if r.object == "F1/polyclinic" and r.outcome == "ok"]
    assert [(r.action, r.login, r.facility, r.detail) for r in rows] == [
        ("operator.installation/apply", "op", "F1", f"due {poly['due_on']}"),
        ("operator.installation/in_progress", "op", "F1", "applied->in_progress"),
        ("operator.installation/installed", "op", "F1", "in_progress->installed"),
        ("operator.installation/disabled", "op", "F1", "installed->disabled: licence suspended"),
        ("operator.installation/installed", "op", "F1", "disabled->installed")]
    assert all(r.request_id for r in rows)
