"""Helpers for the console tests: a seeded world and signing in through the console's own form."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from host.audit import audit_log
from host.console import opened as connected
from host.settings import Settings
from tests.access.world import facilities, settings, staff
from tests.support import PASSWORD, opened

HTML = {"Accept": "text/html,application/xhtml+xml"}  # what a browser sends
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]*)"')


def csrf_in(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def console_login(client: AsyncTestClient[Any], user: str, password: str = PASSWORD) -> str:
    """Sign in through the sign-in form (the client keeps the cookies); returns the session's
    CSRF token for the forms to post."""
    page = await client.get("/console/login", headers=HTML)
    r = await client.post("/console/login", headers=HTML, follow_redirects=False,
                          data={"login": user, "password": password, "csrf": csrf_in(page.text),
                                "next": "/console/system"})
    assert r.status_code == 303, r.text
    home = await client.get("/console/system", headers=HTML)
    assert home.status_code == 200, home.text
    return csrf_in(home.text)


AUDIT_KEY = "console-tests-audit-key-0123456789"  # so "verify" anchors, whatever var/ holds


async def world(db_url: str, **identity: Any) -> Settings:
    """F1 with the medical card; an operator ``op``, a doctor ``doc`` and a nurse ``nurse`` at F1, a
    patient ``pat``. Settings: no relay, cheap hashing, ``identity`` limits as given."""
    s = settings(db_url, client_slow_after=1000, client_lock_after=1000, **identity).with_(
        modules=("medcard",), audit_key=AUDIT_KEY)
    async with opened(s) as rt:
        await facilities(rt, {"F1": ("medcard",)})
        await staff(rt, "op", kind="operator", n=1)
        await staff(rt, "doc", [("F1", "doctor")], n=2)
        await staff(rt, "nurse", [("F1", "nurse")], n=3)
        await staff(rt, "pat", kind="patient", n=4)
    return s


async def audit_rows(s: Settings, action: str) -> list[Any]:
    """The audit entries of ``action``, oldest first, read through a runtime of the test's own
    (the app's serves from the test client's loop: its pool must not be used from this one)."""
    async with connected(s) as rt, rt.storage.transaction(readonly=True) as tx:
        return list((await tx.execute(select(audit_log).where(audit_log.c.action == action)
                                      .order_by(audit_log.c.at, audit_log.c.seq))).all())
