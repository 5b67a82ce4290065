"""The System page: adapters, health, backlog, parked deliveries with retry, the audit trail's
verification; each action audited, refused without its CSRF token and for non-operators."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from adapters.storage.tables import outbox
from core.clock import utcnow
from core.events import PatientRegistered
from core.ids import new_id
from host.console import opened as connected
from host.settings import Settings
from host.web.app import create_app
from tests.access.world import token
from tests.console.support import HTML, audit_rows, console_login, world
from tests.support import opened

PINFL = "31204851234567"


async def park_one(s: Settings) -> int:
    """An event whose delivery failed for good, with an error that quotes the patient."""
    async with opened(s) as rt:
        async with rt.storage.transaction() as tx:
            await tx.publish(PatientRegistered(patient=PINFL, patient_id=new_id(), surname="Secret",
                                               given_name="Name"))
            seq = (await tx.execute(select(outbox.c.seq))).scalars().all()[-1]
        await rt.storage.outbox.record_failure(seq, "polyclinic.cards", f"ValueError: bad {PINFL} Secret",
                                               utcnow(), True)
    return int(seq)


async def parked(s: Settings) -> list[Any]:
    async with connected(s) as rt:
        return list(await rt.storage.outbox.failures(parked_only=True))


async def test_system_page_retry_and_verify(db_url: str) -> None:
    s = await world(db_url)
    seq = await park_one(s)
    async with opened(s) as rt:
        doctor = await token(rt, "doc")
    async with AsyncTestClient(create_app(s)) as client:
        csrf = await console_login(client, "op")
        page = (await client.get("/console/system", headers=HTML)).text
        for shown in ("sqlalchemy", "inprocess", "medcard", f'value="{seq}"', "polyclinic.cards",
                      "medcard.patient_registered", "ValueError", "Ma’lumotlar bazasi"):
            assert shown in page, shown
        assert PINFL not in page and "Secret" not in page  # no clinical data, no PINFL
        assert page.count('class="ok">ishlayapti') == 2  # database and message bus up

        r = await client.post("/console/system/retry", headers=HTML, data={"seq": "x", "csrf": csrf})
        assert r.status_code == 422 and "<h1>422" in r.text  # bad input: the error page, nothing done
        # without the form's token nothing is retried; with it, the chosen delivery is
        r = await client.post("/console/system/retry", headers=HTML, data={"seq": str(seq), "csrf": "x"})
        assert r.status_code == 403
        assert len(await parked(s)) == 1
        r = await client.post("/console/system/retry", headers=HTML, follow_redirects=False,
                              data={"seq": str(seq), "csrf": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/console/system"
        assert await parked(s) == []
        [retried] = await audit_rows(s, "operator.events/retry")
        assert (retried.login, retried.object, retried.outcome) == ("op", str(seq), "ok")
        assert retried.detail == "re-queued 1 parked deliveries"
        after = (await client.get("/console/system", headers=HTML)).text
        assert "navbatga qaytarildi" in after and f'value="{seq}"' not in after

        r = await client.post("/console/system/verify", headers=HTML, data={})
        assert r.status_code == 403 and await audit_rows(s, "operator.audit/verify") == []
        r = await client.post("/console/system/verify", headers=HTML, data={"csrf": csrf})
        assert r.status_code == 200 and "Audit jurnali butun." in r.text
        [verified] = await audit_rows(s, "operator.audit/verify")
        assert (verified.login, verified.outcome) == ("op", "ok") and " entries in " in verified.detail
        assert re.search(r"\(nazorat nuqtasi #\d+\)", r.text)  # the verified heads were checkpointed

        # a doctor's session opens nothing here and changes nothing
        client.cookies.set("shifo_console", doctor, path="/console")
        assert (await client.get("/console/system", headers=HTML)).status_code == 403
        r = await client.post("/console/system/retry", headers=HTML, data={"all": "1", "csrf": csrf})
        assert r.status_code == 403
        outcomes = [e.outcome for e in await audit_rows(s, "operator.events/retry")]
        assert outcomes == ["ok", "denied:403"]  # the refusal is audited, nothing was retried
