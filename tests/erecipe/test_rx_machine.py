"""The prescription lifecycle as a Hypothesis state machine over the HTTP API: drafts, issuing,
partial dispenses, cancellations, in any order and sometimes racing each other. A model predicts
every single request's answer; after each step each prescription's status and remaining quantity
match it, and no race answered a 5xx or handed out more than prescribed."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from uuid import uuid4

from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from core.canonical import canonical_json
from tests.erecipe.rx import (
    Actor,
    actor,
    dispense,
    dispense_content,
    draft_body,
    item,
    line,
    seed,
)
from tests.erecipe.rx import settings_for as rx_settings
from tests.races import Served, run_machine

QUANTITY = 6  # per line; the standard category dispenses in parts


class World:
    def __init__(self, served: Served, signer: Any) -> None:
        self.run, self.client, self.signer = served.run, served.client, signer

    async def sign_in(self) -> None:
        self.doctor: Actor = await actor(self.client, self.signer, "doctor")
        self.pharmacist: Actor = await actor(self.client, self.signer, "pharmacist")


class Prescriptions(RuleBasedStateMachine):
    world: World

    @initialize()
    def fresh(self) -> None:
        self.rxs: list[dict[str, Any]] = []  # id, number, canonical, and the model: status, remaining

    def pick(self, i: int) -> dict[str, Any] | None:
        return self.rxs[i % len(self.rxs)] if self.rxs else None

    @rule()
    def draft(self) -> None:
        w = self.world
        r = w.run(w.doctor.post("/prescriptions/drafts", draft_body(lines=[line(quantity=QUANTITY)])))
        assert r.status_code == 201, r.text
        d = r.json()
        self.rxs.append({"id": d["id"], "number": d["number"], "canonical": d["canonical"],
                         "status": "draft", "remaining": QUANTITY})

    def _issue(self, rx: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        w = self.world

        async def go() -> Any:
            sig = await w.doctor.sign(base64.b64decode(rx["canonical"]))
            return await w.doctor.post(f"/prescriptions/{rx['id']}/issue", {"signature": sig})
        return go()

    def _cancel(self, rx: dict[str, Any]) -> Coroutine[Any, Any, Any]:
        w = self.world

        async def go() -> Any:
            content = canonical_json({"action": "cancel", "number": rx["number"], "reason": "changed"})
            return await w.doctor.post(f"/prescriptions/{rx['id']}/cancel",
                                       {"reason": "changed", "signature": await w.doctor.sign(content)})
        return go()

    def _dispense(self, rx: dict[str, Any], q: int) -> Coroutine[Any, Any, Any]:
        w = self.world

        async def go() -> Any:
            did = str(uuid4())
            sig = await w.pharmacist.sign(dispense_content(rx["number"], [item(quantity=q)], did))
            return await dispense(w.pharmacist, rx["number"], [item(quantity=q)], sig, did)
        return go()

    @precondition(lambda self: bool(getattr(self, "rxs", None)))
    @rule(i=st.integers(0, 20))
    def issue(self, i: int) -> None:
        rx = self.pick(i)
        if rx is None:
            return
        r = self.world.run(self._issue(rx))
        assert r.status_code == (200 if rx["status"] == "draft" else 409), r.text
        rx["status"] = "issued" if rx["status"] == "draft" else rx["status"]

    @precondition(lambda self: bool(getattr(self, "rxs", None)))
    @rule(i=st.integers(0, 20))
    def cancel(self, i: int) -> None:
        rx = self.pick(i)
        if rx is None:
            return
        ok = rx["status"] in ("issued", "partially_dispensed")
        r = self.world.run(self._cancel(rx))
        assert r.status_code == (200 if ok else 409), r.text
        if ok:
            rx["status"] = "cancelled"

    @precondition(lambda self: bool(getattr(self, "rxs", None)))
    @rule(i=st.integers(0, 20), q=st.integers(1, QUANTITY))
    def dispense(self, i: int, q: int) -> None:
        rx = self.pick(i)
        if rx is None:
            return
        ok = rx["status"] in ("issued", "partially_dispensed") and q <= rx["remaining"]
        r = self.world.run(self._dispense(rx, q))
        expected = 201 if ok else 404 if rx["status"] == "draft" else 409
        assert r.status_code == expected, (rx, q, r.text)
        if ok:
            rx["remaining"] -= q
            rx["status"] = "dispensed" if rx["remaining"] == 0 else "partially_dispensed"

    @precondition(lambda self: bool(getattr(self, "rxs", None)))
    @rule(i=st.integers(0, 20), q=st.integers(1, QUANTITY))
    def race(self, i: int, q: int) -> None:
        """A cancel against two dispenses: whatever wins, no 5xx, never more than prescribed."""
        rx = self.pick(i)
        if rx is None or rx["status"] == "draft":
            return

        async def all_at_once() -> list[Any]:
            return list(await asyncio.gather(self._cancel(rx), self._dispense(rx, q), self._dispense(rx, q)))
        answers = self.world.run(all_at_once())
        assert all(a.status_code in (200, 201, 409) for a in answers), [a.text for a in answers]
        now = self.world.run(self.world.doctor.get(f"/prescriptions/{rx['id']}")).json()
        dispensed = sum(q for a in answers[1:] if a.status_code == 201)
        assert now["lines"][0]["remaining"] == rx["remaining"] - dispensed >= 0
        assert (answers[0].status_code == 200) == (now["status"] == "cancelled" != rx["status"])
        rx["status"], rx["remaining"] = now["status"], now["lines"][0]["remaining"]

    @invariant()
    def stored_as_modelled(self) -> None:
        for rx in getattr(self, "rxs", []):
            got = self.world.run(self.world.doctor.get(f"/prescriptions/{rx['id']}")).json()
            assert got["status"] == rx["status"], (got["status"], rx)
            if rx["status"] != "draft":
                assert got["lines"][0]["remaining"] == rx["remaining"]


async def test_prescription_lifecycle_state_machine(db_url: str, tmp_path: Path) -> None:
    s = rx_settings(db_url, tmp_path / "keys")
    signer = await seed(s)

    async def world(served: Served) -> World:
        made = World(served, signer)
        await made.sign_in()
        return made

    await run_machine(s, Prescriptions, world, examples=8, steps=12)
