"""The console's access-review pages: they render, certify and revoke (one by one and in bulk)
write the JSON API's decisions and audit entries, a form without its CSRF token does nothing,
the evidence download is the API's CSV, and only operators get in."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from host.audit import audit_log
from host.web.app import create_app
from host.web.guard import CONSOLE_COOKIE
from tests.access.world import pinfl, staff, token
from tests.console.support import HTML, console_login
from tests.operator.world import seed
from tests.support import opened

REVIEW = "/api/v1/operator/review"
PAGE = "/console/reviews"
AUDITED = ("detail", "facility", "login", "role", "outcome", "object")


async def _audit(s: Any) -> dict[str, list[dict[str, Any]]]:
    """The review's audit entries by action, oldest first."""
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        rows = await tx.execute(select(audit_log).where(audit_log.c.action.like("operator.review/%"))
                                .order_by(audit_log.c.at, audit_log.c.seq))
        found: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            found.setdefault(r.action, []).append(dict(r._mapping))
        return found


def as_(token: str) -> dict[str, str]:
    """Another principal's session in the console's cookie, for one request."""
    return {"Cookie": f"{CONSOLE_COOKIE}={token}"}


async def test_access_review_pages_and_actions(db_url: str) -> None:
    s, w = await seed(db_url)  # (operator settings given to seed would drop its cheap hashing)
    s = s.with_(extra={**s.extra, "operator": {"certification_days": 20}})  # all due within 30 days
    async with opened(s) as rt:
        for n, (login, role) in enumerate([("nurse", "nurse"), ("res", "resident"), ("ph", "pharmacist")], 3):
            await staff(rt, login, [("F1", role)], n=n)
        await staff(rt, "pat", kind="patient", n=9)
        others = {who: await token(rt, who) for who in ("doc", "nurse", "pat")}
    op = w["op"]
    async with AsyncTestClient(create_app(s)) as client:
        # anonymous: to the sign-in page; other principals with a session cookie: refused
        r = await client.get(PAGE, headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=")
        for who, tok in others.items():
            r = await client.get(PAGE, headers={**HTML, **as_(tok)}, follow_redirects=False)
            assert r.status_code == 403 or r.headers["location"].startswith("/console/login"), who
        csrf = await console_login(client, "op")

        r = await client.get(PAGE, headers=HTML)
        assert r.status_code == 200 and 'id="open-campaign"' in r.text
        assert 'data-login="doc"' in r.text and "due-soon" in r.text  # lapsing within 30 days
        assert not any(pinfl(n) in r.text for n in range(10))  # never a PINFL
        assert "Kampaniya ochish" in r.text  # Uzbek by default, Russian at the switch
        await client.get("/console/lang/ru", headers={**HTML, "Referer": f"http://testserver.local{PAGE}"})
        assert "Открыть кампанию" in (await client.get(PAGE, headers=HTML)).text
        await client.get("/console/lang/uz", headers=HTML)
        assert (await client.post(f"{PAGE}/campaigns", headers=HTML, data={"title": "Yearly"})).status_code == 403
        assert (await client.post(f"{PAGE}/campaigns", headers=HTML,
                                  data={"title": "Yearly", "csrf": "0" * 64})).status_code == 403
        assert (await client.get(PAGE, headers=HTML)).text.count('id="open-campaign"') == 1  # none opened
        r = await client.post(f"{PAGE}/campaigns", headers=HTML, follow_redirects=False,
                              data={"title": "Yearly 2027", "csrf": csrf})
        assert r.status_code == 303
        [camp] = set(re.findall(r"/console/reviews/campaigns/([0-9a-f-]{36})/", (await client.get(PAGE)).text))
        decide = f"{PAGE}/campaigns/{camp}/decisions"
        users = {u["login"]: u for u in (await client.get(f"{REVIEW}/users", headers=op)).json()}
        grant = {login: users[login]["grants"][0]["id"] for login in ("doc", "nurse", "res", "ph")}

        # refused: no CSRF token, no reason, a non-operator's cookie; nothing decided
        assert (await client.post(decide, headers=HTML, data={
            "one": f"{grant['nurse']}:certify", "comment": "on ward 3"})).status_code == 403
        assert (await client.post(decide, headers=HTML, data={
            "one": f"{grant['nurse']}:certify", "comment": " ", "csrf": csrf})).status_code == 422
        assert (await client.post(decide, headers={**HTML, **as_(others["doc"])}, data={
            "one": f"{grant['nurse']}:certify", "comment": "x", "csrf": csrf})).status_code == 403
        # one by one, then in bulk (all or none: a revoked grant in the list refuses the lot)
        r = await client.post(decide, headers=HTML, follow_redirects=False, data={
            "one": f"{grant['nurse']}:certify", "comment": "still on ward 3", "csrf": csrf})
        assert r.status_code == 303
        assert (await client.post(decide, headers=HTML, follow_redirects=False, data={
            "one": f"{grant['res']}:revoke", "comment": "left in June", "csrf": csrf})).status_code == 303
        assert (await client.post(decide, headers=HTML, data={
            "grant": [grant["doc"], grant["res"]], "decision": "certify", "comment": "bulk",
            "csrf": csrf})).status_code == 409
        r = await client.post(decide, headers=HTML, follow_redirects=False, data={
            "grant": [grant["doc"], grant["ph"]], "decision": "certify", "comment": "all fine", "csrf": csrf})
        assert r.status_code == 303
        page = (await client.get(PAGE, headers=HTML)).text
        assert "<td>F1</td><td>4</td><td>4</td>" in page  # the facility's progress: 4 of 4 decided
        assert f'value="{grant["doc"]}:certify"' not in page

        # the evidence download is the API's CSV, to the byte
        mine = await client.get(f"{PAGE}/campaigns/{camp}/evidence.csv", headers=HTML)
        theirs = await client.get(f"{REVIEW}/campaigns/{camp}/evidence", params={"format": "csv"}, headers=op)
        assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")
        assert mine.text == theirs.text and mine.text.count("certify") == 3 and "left in June" in mine.text
        # close the campaign: no decision lands after it
        assert (await client.post(f"{PAGE}/campaigns/{camp}/close", headers=HTML, follow_redirects=False,
                                  data={"csrf": csrf})).status_code == 303
        assert (await client.post(decide, headers=HTML, data={
            "one": f"{grant['doc']}:revoke", "comment": "late", "csrf": csrf})).status_code == 409

    # the same audit entries as the JSON API's: action, object, facility, detail, who
    audited = await _audit(s)
    certified = audited["operator.review/certify"]
    assert [(e["login"], e["object"], e["facility"], e["outcome"]) for e in certified] == [
        ("op", grant["nurse"], "F1", "ok"), ("op", grant["doc"], "F1", "ok"), ("op", grant["ph"], "F1", "ok")]
    assert certified[0]["detail"] == "certify nurse nurse@F1: still on ward 3"
    [revoked] = audited["operator.review/revoke"]
    assert revoked["detail"] == "revoke res resident@F1: left in June" and revoked["object"] == grant["res"]
    assert [e["object"] for e in audited["operator.review/open"]] == [camp]
    assert len(audited["operator.review/close"]) == 1
    assert {e["object"] for e in audited["operator.review/evidence"]} == {camp}

