"""A prescription issued in one transaction: drafted and issued in one signed request
(``POST /prescriptions/``), and the two-step issue answered from what it holds, not read back."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import select

from adapters.storage.tables import outbox
from adapters.storage.transaction import SqlTransaction
from core.canonical import canonical_json
from core.events import PrescriptionIssued, decode_event
from host.audit import audit_log
from plugins.erecipe.tables import prescriptions
from tests.erecipe.rx import (
    PATIENT,
    Actor,
    actor,
    concurrent_client,
    dispense,
    issued,
    item,
    line,
    seed,
    settings_for,
)
from tests.support import opened


def order(**changes: Any) -> dict[str, Any]:
    """The object a client signs, built as a client would (docs/modules.md, erecipe)."""
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"action": "issue", "id": str(uuid4()), "drafted_at": at, "facility": "F1",
            "patient_pinfl": PATIENT, "diagnosis": "J06.9", "category": "standard", "valid_days": 30,
            "lines": [{"line": 1, **line()}], **changes}


async def signed(doctor: Actor, body: dict[str, Any], over: dict[str, Any] | None = None) -> dict[str, Any]:
    content = canonical_json(over or body)
    return {"order": body, "signature": await doctor.sign(content),
            "content": base64.b64encode(content).decode()}


class Statements:
    """Every statement the storage adapter runs while ``on``: to prove what a request reads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.on, self.seen = False, list[Any]()
        run = SqlTransaction.execute

        async def counted(tx: SqlTransaction, statement: Any, params: Any = None) -> Any:
            if self.on:
                self.seen.append(statement)
            return await run(tx, statement, params)
        monkeypatch.setattr(SqlTransaction, "execute", counted)

    def reads(self) -> list[str]:
        return [str(s) for s in self.seen if getattr(s, "is_select", False) and "erecipe_" in str(s)]


async def _issued_events(s: Any, rx: str) -> tuple[int, list[Any]]:
    """How many ``erecipe.issued`` events name ``rx``, and the drafting and issuing audited."""
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        rows = (await tx.execute(select(outbox.c.event_type, outbox.c.payload).where(
            outbox.c.event_type == "erecipe.issued"))).all()
        a = audit_log.c
        audited = (await tx.execute(select(a.action, a.patient, a.outcome).where(
            a.object == rx, a.action.in_(("erecipe.prescription/draft", "erecipe.prescription/issue")))
                                    .order_by(a.at, a.seq))).all()
    events = [decode_event(r.event_type, r.payload) for r in rows]
    return sum(isinstance(e, PrescriptionIssued) and str(e.prescription_id) == rx for e in events), \
        [tuple(a) for a in audited]


async def test_a_prescription_is_issued_in_one_transaction(db_url: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings_for(db_url, tmp_path / "keys")
    signer = await seed(s)
    statements = Statements(monkeypatch)
    async with concurrent_client(s) as client:
        doctor = await actor(client, signer, "doctor")
        await _two_step(s, doctor, statements)
        await _one_request(s, doctor, await actor(client, signer, "pharmacist"), statements)


async def _one_request(s: Any, doctor: Actor, pharmacist: Actor, statements: Statements) -> None:
    """Draft and issue in one signed request: 201 issued, one event, audited; replays 409; a
    signature over other content 422 with nothing left behind."""
    body = order()
    statements.seen.clear()
    statements.on = True
    r = await doctor.post("/prescriptions/", await signed(doctor, body))
    statements.on = False
    assert r.status_code == 201, r.text
    rx = r.json()
    assert rx["id"] == body["id"] and rx["status"] == "issued"
    assert rx["number"] == f"{body['drafted_at'][2:10].replace('-', '')}-{UUID(body['id']).hex[-10:].upper()}"
    assert [h["status"] for h in rx["history"]] == ["issued"] and rx["lines"][0]["remaining"] == 21
    assert rx["verification"]["signer_pinfl"] == rx["content"]["prescriber"]["pinfl"]
    assert rx["content"]["patient_name"] == "Rahimov Anvar Olimovich"
    assert rx == (await doctor.get(f"/prescriptions/{rx['id']}")).json()  # the answer is what is stored
    reads = statements.reads()  # the replay check, the card's word, the line's register products
    register = [q for q in reads if "erecipe_medicine" in q]  # the products with their GTINs, joined
    reads = [q for q in reads if q not in register]
    assert len(register) == 1 and len(reads) == 2 and not any("erecipe_history" in q or "erecipe_lines" in q for q in reads), reads

    again = await doctor.post("/prescriptions/", await signed(doctor, body))  # a replay: 409, not twice
    assert again.status_code == 409 and "already used" in again.json()["detail"], again.text
    assert await _issued_events(s, rx["id"]) == (1, [("erecipe.prescription/issue", PATIENT, "ok")])
    assert (await dispense(pharmacist, rx["number"], [item(quantity=7)])).status_code == 201

    raced = order()
    copies = await signed(doctor, raced)
    answers = await asyncio.gather(*(doctor.post("/prescriptions/", copies) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]

    other = order()  # signed over different content: 422, and no draft or anything left behind
    r = await doctor.post("/prescriptions/", await signed(doctor, other, over={**other, "valid_days": 29}))
    assert r.status_code == 422 and "differ from canonical_json(order) from byte" in r.json()["detail"]
    tampered = await signed(doctor, other, over={**other, "lines": [{"line": 1, **line(quantity=210)}]})
    r = await doctor.post("/prescriptions/", {**tampered, "content": None})
    assert r.status_code == 422 and "refused" in r.json()["detail"], r.text
    stale = order(drafted_at=(datetime.now(UTC) - timedelta(minutes=11)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    for bad, field in [(order(facility="PH"), "order.facility"), (order(diagnosis="j06.9"), "order.diagnosis"),
                       (stale, "order.drafted_at"), (order(lines=[{"line": 2, **line()}]), "order.lines")]:
        r = await doctor.post("/prescriptions/", await signed(doctor, bad))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
    async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
        kept = {str(r.id): r.status for r in await tx.execute(select(prescriptions.c.id, prescriptions.c.status))}
    assert rx["id"] in kept and raced["id"] in kept and set(kept.values()) == {"issued", "partially_dispensed"}
    assert other["id"] not in kept and stale["id"] not in kept  # no draft left behind, nothing at all


async def _two_step(s: Any, doctor: Actor, statements: Statements) -> None:
    """The draft locked, checked, verified, issued and answered in one unit, without reading back."""
    d = (await doctor.post("/prescriptions/drafts", {"patient_pinfl": PATIENT, "diagnosis": "J06.9",
                                                     "category": "chronic", "lines": [line()]})).json()
    signature = await doctor.sign(base64.b64decode(d["canonical"]))
    statements.seen.clear()
    statements.on = True
    r = await doctor.post(f"/prescriptions/{d['id']}/issue", {"signature": signature})
    statements.on = False
    assert r.status_code == 200, r.text
    rx = r.json()
    assert [h["status"] for h in rx["history"]] == ["draft", "issued"] and rx["lines"][0]["remaining"] == 63
    assert rx == (await doctor.get(f"/prescriptions/{d['id']}")).json()
    reads = statements.reads()  # the draft under its lock, the card's word; no view read back
    assert len(reads) == 2 and "FOR UPDATE" in reads[0]
    assert not any("erecipe_history" in q or "erecipe_lines" in q for q in reads)
    again = await doctor.post(f"/prescriptions/{d['id']}/issue", {"signature": signature})
    assert again.status_code == 409 and "already issued" in again.json()["detail"]
    assert await _issued_events(s, rx["id"]) == (1, [("erecipe.prescription/draft", PATIENT, "ok"),
                                                     ("erecipe.prescription/issue", PATIENT, "ok")])
    assert (await issued(doctor))["status"] == "issued"  # the helper every other test uses
