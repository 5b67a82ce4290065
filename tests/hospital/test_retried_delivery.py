"""Issue #20's reproduction through the real path: a pulse of 101 whose delivery to the stay and the
visit cards failed and was parked, then corrected to 99 (version 2), then re-queued by ``shifo
events retry``: both cards keep 99, version 2, and the retried version 1 changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from host import cli
from host.settings import Settings
from plugins.hospital import tables as hospital_tables
from plugins.polyclinic import tables as polyclinic_tables
from ports.storage import Storage
from tests.hospital.test_stays import ward
from tests.polyclinic.world import HOSP, MEDCARD, POLY, now_iso, patient, seed, until
from tests.support import ALL_MODULES, login, opened, serving

CARD_CONSUMERS = {"hospital.stay_entries", "polyclinic.visit_entries"}


async def _failures(storage: Storage, parked_only: bool) -> set[str]:
    return {f.consumer for f in await storage.outbox.failures(parked_only=parked_only)}


async def test_a_retried_old_version_leaves_the_corrected_one_on_both_cards(
        db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(database_url=db_url, run_relay=True, relay_poll_seconds=0.1, relay_max_attempts=1,
                        relay_backoff_seconds=0.1, modules=ALL_MODULES)
    await seed(settings)
    monkeypatch.setenv("SHIFO_DATABASE_URL", db_url)
    async with serving(settings) as client, opened(settings) as rt:
        doc, nurse = await login(client, "doctor"), await login(client, "nurse")
        pid = await patient(client, doc)
        visit = await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc)
        bed = (await ward(client, doc, "A", 1))["beds"][0]["id"]
        stay = await client.post(f"{HOSP}/stays", json={"patient_id": pid, "bed_id": bed, "diagnosis": "I10"},
                                 headers=doc)
        assert visit.status_code == 201 and stay.status_code == 201, (visit.text, stay.text)
        cards = {"stay": f"{HOSP}/stays/{stay.json()['id']}/card",
                 "visit": f"{POLY}/visits/{visit.json()['id']}/card"}

        async def pulses() -> dict[str, list[tuple[Any, Any]]]:
            return {name: [(i["summary"]["value"], i["summary"]["version"])
                           for i in (await client.get(url, headers=doc)).json()["indicators"]]
                    for name, url in cards.items()}

        async def broken(*args: Any) -> None:
            raise ConnectionResetError("the ward's database went away")

        pulse = {"code": "pulse", "value": 101, "performed_at": now_iso()}
        with monkeypatch.context() as away:  # both cards' writes fail until the delivery is parked
            for module in (hospital_tables, polyclinic_tables):
                away.setattr(module.ENCOUNTERS.mirror, "apply", broken)
            first = await client.post(f"{MEDCARD}/patients/{pid}/indicators", json=pulse, headers=nurse)
            assert first.status_code == 201, first.text
            await until(lambda: _parked(rt.storage))
        assert await pulses() == {"stay": [], "visit": []}

        fix = {"version": 1, "reason": "miscounted", "entry": {**pulse, "value": 99}}
        second = await client.post(f"{MEDCARD}/patients/{pid}/indicators/{first.json()['id']}/versions",
                                   json=fix, headers=nurse)
        assert second.status_code == 201 and second.json()["version"] == 2, second.text
        corrected = {"stay": [(99, 2)], "visit": [(99, 2)]}
        await until(lambda: _equal(pulses, corrected))

        assert await asyncio.to_thread(cli.main, ["events", "retry"]) == 0
        assert "re-queued 2 parked deliveries" in capsys.readouterr().out
        await until(lambda: _none_failed(rt.storage))  # the relay delivered version 1 again
        assert await pulses() == corrected


async def _parked(storage: Storage) -> bool:
    return await _failures(storage, parked_only=True) == CARD_CONSUMERS


async def _none_failed(storage: Storage) -> bool:
    return await _failures(storage, parked_only=False) == set()


async def _equal(read: Any, expected: Any) -> bool:
    return bool(await read() == expected)
