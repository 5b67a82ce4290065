"""The stay lifecycle as a Hypothesis state machine over the HTTP API: admissions, transfers and
discharges in any order, some of them racing each other. A model predicts each single request's
answer (201/200 or 409); after every step the wards, the census and the model agree."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from tests.hospital.test_races import OUT, invariants
from tests.polyclinic.world import HOSP, patient, seed, settings_for
from tests.races import Served, run_machine
from tests.support import login

PATIENTS, BEDS = 3, 4
_wards = itertools.count()


class World:
    """One app for every example (a fresh ward and fresh patients each)."""

    def __init__(self, served: Served) -> None:
        self.served, self.run = served, served.run
        self.patients = itertools.count(1)

    @property
    def client(self) -> Any:
        return self.served.client

    async def sign_in(self) -> None:
        self.doc = await login(self.client, "doctor")


class Stays(RuleBasedStateMachine):
    world: World

    @initialize()
    def fresh(self) -> None:
        w = self.world
        body = {"name": f"H{next(_wards)}", "profile": "therapy", "beds": [str(i) for i in range(BEDS)]}
        ward = w.run(w.client.post(f"{HOSP}/wards", json=body, headers=w.doc)).json()
        self.beds = [b["id"] for b in ward["beds"]]
        self.pids = [w.run(patient(w.client, w.doc, next(w.patients))) for _ in range(PATIENTS)]
        self.stays: list[str] = []  # every stay ever admitted, by index
        self.lies: dict[str, str] = {}  # admitted stay -> bed (the model)
        self.of: dict[str, str] = {}  # stay -> patient

    def post(self, path: str, body: Any) -> Any:
        return self.world.run(self.world.client.post(f"{HOSP}{path}", json=body, headers=self.world.doc))

    @rule(p=st.integers(0, PATIENTS - 1), b=st.integers(0, BEDS - 1))
    def admit(self, p: int, b: int) -> None:
        pid, bed = self.pids[p], self.beds[b]
        ok = pid not in {self.of[s] for s in self.lies} and bed not in self.lies.values()
        r = self.post("/stays", {"patient_id": pid, "bed_id": bed, "diagnosis": "J18.9"})
        assert r.status_code == (201 if ok else 409), r.text
        if ok:
            sid = r.json()["id"]
            self.stays.append(sid)
            self.lies[sid], self.of[sid] = bed, pid

    @precondition(lambda self: bool(getattr(self, "lies", None)))
    @rule(s=st.integers(0, 20), b=st.integers(0, BEDS - 1))
    def transfer(self, s: int, b: int) -> None:
        sid, bed = self.stays[s % len(self.stays)], self.beds[b]  # often admitted, maybe discharged
        ok = sid in self.lies and bed not in self.lies.values()
        r = self.post(f"/stays/{sid}/transfer", {"bed_id": bed})
        assert r.status_code == (200 if ok else 409), r.text
        if ok:
            self.lies[sid] = bed

    @precondition(lambda self: bool(getattr(self, "lies", None)))
    @rule(s=st.integers(0, 20))
    def discharge(self, s: int) -> None:
        sid = self.stays[s % len(self.stays)]
        r = self.post(f"/stays/{sid}/discharge", OUT)
        assert r.status_code == (200 if sid in self.lies else 409), r.text
        self.lies.pop(sid, None)

    @precondition(lambda self: bool(getattr(self, "lies", None)))
    @rule(s=st.integers(0, 20), b=st.integers(0, BEDS - 1), also_transfer=st.booleans())
    def race(self, s: int, b: int, also_transfer: bool) -> None:
        """A discharge against a transfer (or two transfers): whatever wins, the model follows it."""
        w, admitted = self.world, sorted(self.lies)
        sid = admitted[s % len(admitted)]
        moves = [w.client.post(f"{HOSP}/stays/{sid}/transfer", json={"bed_id": self.beds[b]}, headers=w.doc),
                 w.client.post(f"{HOSP}/stays/{sid}/transfer" if also_transfer else f"{HOSP}/stays/{sid}/discharge",
                               json={"bed_id": self.beds[(b + 1) % BEDS]} if also_transfer else OUT,
                               headers=w.doc)]

        async def both() -> list[Any]:
            return list(await asyncio.gather(*moves))
        answers = w.run(both())
        assert all(a.status_code in (200, 409) for a in answers), [a.text for a in answers]
        if not also_transfer:
            assert answers[1].status_code == 200, answers[1].text  # a discharge never loses
        stay = w.run(w.client.get(f"{HOSP}/stays/{sid}", headers=w.doc)).json()
        if stay["status"] == "admitted":
            self.lies[sid] = stay["bed_id"]
        else:
            self.lies.pop(sid, None)

    @invariant()
    def beds_agree(self) -> None:
        if not hasattr(self, "beds"):
            return
        w = self.world
        w.run(invariants(w.client, w.doc))
        wards = w.run(w.client.get(f"{HOSP}/wards", headers=w.doc)).json()
        held = {b["stay_id"]: b["id"] for ward in wards for b in ward["beds"] if b["id"] in self.beds and b["stay_id"]}
        assert held == self.lies


async def test_stay_lifecycle_state_machine(db_url: str) -> None:
    s = settings_for(db_url)
    await seed(s)

    async def world(served: Served) -> World:
        made = World(served)
        await made.sign_in()
        return made

    await run_machine(s, Stays, world, examples=10, steps=15)
