"""Every committed entry reaches the other modules' handlers right after commit; a deployment
without some of those modules works all the same. Small probe modules stand in for the polyclinic,
hospital and prescription modules, registered through ``extra_plugins`` like any plugin."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from sqlalchemy import text

from core.events import Event
from host.pluginapi import EventHandler, ModuleInfo, hookimpl
from tests.medcard.card import API, diagnosis, lab, new_patient, pulse, seed, settings_for
from tests.support import login, serving

MEDCARD_EVENTS = ("medcard.patient_registered", "medcard.entry_recorded", "medcard.entry_corrected",
                  "medcard.entry_entered_in_error", "medcard.critical_lab_value")


class Probe:
    """A module that only listens: it keeps what it received and what it saw committed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.received: list[Event] = []
        self.saw_patient: list[bool] = []
        self.changed = asyncio.Event()

    @hookimpl
    def shifo_module_info(self) -> ModuleInfo:
        return ModuleInfo(name=self.name, title=f"probe {self.name}", version="0", requires=("medcard",))

    @hookimpl
    def shifo_event_handlers(self) -> list[EventHandler]:
        async def handle(event: Event, tx: Any) -> None:
            row = await tx.execute(text("SELECT count(*) FROM medcard_patients WHERE pinfl = :p"),
                                   {"p": event.patient})
            self.saw_patient.append(row.scalar() == 1)  # the writer's transaction has committed
            self.received.append(event)
            self.changed.set()
        return [EventHandler(consumer=f"{self.name}.probe", event_types=MEDCARD_EVENTS, handle=handle)]


async def _arrives(probes: list[Probe], count: int) -> None:
    """Each probe has ``count`` events within a second: delivery follows the commit at once."""
    async with asyncio.timeout(1.0):
        for probe in probes:
            await _until(probe, lambda p=probe: len(p.received) >= count)


async def _until(probe: Probe, done: Any) -> None:
    while True:
        probe.changed.clear()
        if done():
            return
        await probe.changed.wait()


async def test_handlers_receive_each_entry_right_after_commit(db_url: str) -> None:
    probes = [Probe("polyclinic_probe"), Probe("hospital_probe"), Probe("erecipe_probe")]
    plugins = {p.name: p for p in probes}
    settings = settings_for(db_url).with_(modules=("medcard", *plugins), run_relay=True,
                                          relay_poll_seconds=30.0)  # only the commit wake-up delivers
    ids = await seed(settings, plugins)
    async with serving(settings, plugins) as client:
        auth = await login(client, "doctor")
        pid = await new_patient(client, auth)
        await _arrives(probes, 1)
        card = f"{API}/patients/{pid}"
        entry = (await client.post(f"{card}/indicators", json=pulse(), headers=auth)).json()
        await _arrives(probes, 2)
        dx = (await client.post(f"{card}/diagnoses", json=diagnosis(), headers=auth)).json()
        await _arrives(probes, 3)
        fix = {"version": 1, "reason": "confirmed", "entry": diagnosis(verification="confirmed")}
        await client.post(f"{card}/diagnoses/{dx['id']}/versions", json=fix, headers=auth)
        await _arrives(probes, 4)
        await client.post(f"{card}/indicators/{entry['id']}/entered-in-error", headers=auth,
                          json={"version": 1, "reason": "wrong patient"})
        await _arrives(probes, 5)
        critical = lab(7.5, requested_by=str(ids["resident"]))
        assert (await client.post(f"{card}/lab-results", json=critical, headers=auth)).status_code == 201
        await _arrives(probes, 7)  # the entry, and the alert for the clinician who asked
    for probe in probes:
        types = [e.event_type() for e in probe.received]
        assert types == ["medcard.patient_registered", "medcard.entry_recorded", "medcard.entry_recorded",
                         "medcard.entry_corrected", "medcard.entry_entered_in_error",
                         "medcard.entry_recorded", "medcard.critical_lab_value"], types
        assert all(probe.saw_patient)
        alert = probe.received[-1]
        assert alert.requested_by == ids["resident"] and alert.flag == "HH"  # type: ignore[attr-defined]
        assert probe.received[1].entry_id == UUID(entry["id"])  # type: ignore[attr-defined]


async def test_a_deployment_without_the_other_modules_still_works(db_url: str) -> None:
    alone = settings_for(db_url).with_(run_relay=True)  # the medcard and no listener at all
    await seed(alone)
    async with serving(alone) as client:
        auth = await login(client, "nurse")
        pid = await new_patient(client, auth)
        r = await client.post(f"{API}/patients/{pid}/indicators", json=pulse(), headers=auth)
        assert r.status_code == 201
        card = (await client.get(f"{API}/patients/{pid}/entries", headers=auth)).json()
        assert [e["id"] for e in card["items"]] == [r.json()["id"]]
    only = Probe("erecipe_probe")  # one listener of three: it alone is served
    settings = alone.with_(modules=("medcard", only.name))
    async with serving(settings, {only.name: only}) as client:
        auth = await login(client, "nurse")
        r = await client.post(f"{API}/patients/{pid}/indicators", json=pulse(), headers=auth)
        assert r.status_code == 201
        wanted = UUID(r.json()["id"])
        async with asyncio.timeout(1.0):
            await _until(only, lambda: wanted in [getattr(e, "entry_id", None) for e in only.received])
