"""The timeline: keyset pages stay stable while entries arrive; filters by kind and date range; the
other modules' prescriptions, visits and stays in the same list."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

from host.settings import Settings
from tests.erecipe import rx
from tests.medcard.card import API, VALID, ago, diagnosis, new_patient, pulse, seed, settings_for
from tests.polyclinic.world import HOSP, POLY, until
from tests.support import ALL_MODULES, add_facility, add_user, login, opened, serving


async def test_pages_are_stable_under_concurrent_inserts(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        auth = await login(client, "nurse")
        pid = await new_patient(client, auth)
        card = f"{API}/patients/{pid}"
        originals = set()
        for i in range(12):  # hours 1..12 ago, plus two at the very same instant
            r = await client.post(f"{card}/indicators", json=pulse(60 + i, performed_at=ago(hours=i + 1)),
                                  headers=auth)
            originals.add(r.json()["version_id"])
        same = ago(hours=20)
        for v in (70, 71):
            r = await client.post(f"{card}/indicators", json=pulse(v, performed_at=same), headers=auth)
            originals.add(r.json()["version_id"])
        seen: list[str] = []
        keys: list[tuple[str, str]] = []
        cursor = None
        k = 0
        while True:
            params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
            page_req = client.get(f"{card}/entries", params=params, headers=auth)
            # While the page is read, others record: newer entries, and entries between pages.
            writes = [client.post(f"{card}/indicators", headers=auth,
                                  json=pulse(90, performed_at=ago(minutes=k + 1))),
                      client.post(f"{card}/indicators", headers=auth,
                                  json=pulse(91, performed_at=ago(hours=2.5 + 3 * k)))]
            page, *_ = await asyncio.gather(page_req, *writes)
            body = page.json()
            seen.extend(e["version_id"] for e in body["items"])
            keys.extend((e["performed_at"], e["version_id"]) for e in body["items"])
            cursor, k = body["next"], k + 1
            if cursor is None:
                break
        assert len(seen) == len(set(seen)), "an entry repeated across pages"
        assert originals <= set(seen), "an entry present from the start was skipped"
        assert keys == sorted(keys, key=lambda k: (_when(k[0]), k[1]), reverse=True)  # one order, no jumps
        bad = await client.get(f"{card}/entries", params={"cursor": "bm9wZQ=="}, headers=auth)
        assert bad.status_code == 422


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_filters_by_kind_and_date_range(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        auth = await login(client, "doctor")
        pid = await new_patient(client, auth)
        card = f"{API}/patients/{pid}"
        await client.post(f"{card}/indicators", json=pulse(performed_at=ago(days=3)), headers=auth)
        await client.post(f"{card}/indicators", json=pulse(performed_at=ago(days=1)), headers=auth)
        await client.post(f"{card}/diagnoses", json=diagnosis(performed_at=ago(days=1)), headers=auth)
        only_dx = (await client.get(f"{card}/entries", params={"kind": "diagnosis"}, headers=auth)).json()
        assert [e["kind"] for e in only_dx["items"]] == ["diagnosis"]
        recent = (await client.get(f"{card}/entries", headers=auth,
                                   params={"since": ago(days=2), "until": ago(hours=1)})).json()
        assert len(recent["items"]) == 2
        old = (await client.get(f"{card}/entries", headers=auth,
                                params={"kind": "indicator", "until": ago(days=2)})).json()
        assert len(old["items"]) == 1
        assert (await client.get(f"{card}/entries", params={"kind": "x"}, headers=auth)).status_code == 400


async def test_one_list_with_the_other_modules_records(db_url: str, tmp_path: Path) -> None:
    """Prescriptions, visits and stays sit among the entries, by the time they began, under the same
    keyset pages and kind filter; a record arriving between pages does not disturb the pages."""
    settings = Settings(database_url=db_url, run_relay=True, relay_poll_seconds=0.2, modules=ALL_MODULES,
                        signature_adapter="dev", signature_dev_keys_dir=str(tmp_path))
    async with opened(settings) as rt:
        await add_facility(rt, "F1", ALL_MODULES)
        await rx.load_register(rt)  # prescription lines name medicines of the register
        await add_user(rt, "doctor", grants=[rx.USERS["doctor"]], pinfl=rx.PINFLS["doctor"])
    async with serving(settings) as client:
        doctor = await rx.actor(client, rx.DevSignature(tmp_path), "doctor")
        auth = doctor.headers
        pid = await new_patient(client, auth)
        card = f"{API}/patients/{pid}"
        await client.post(f"{card}/diagnoses", json=diagnosis(performed_at=ago(days=2)), headers=auth)
        await client.post(f"{card}/indicators", json=pulse(performed_at=ago(hours=3)), headers=auth)
        issued = await rx.issued(doctor, patient_pinfl=VALID["pinfl"])
        visit = (await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=auth)).json()
        ward = (await client.post(f"{HOSP}/wards", headers=auth,
                                  json={"name": "A", "profile": "therapy", "beds": ["A-1"]})).json()
        stay = (await client.post(f"{HOSP}/stays", headers=auth, json={
            "patient_id": pid, "bed_id": ward["beds"][0]["id"], "diagnosis": "I10"})).json()

        async def listed(**params: Any) -> Any:
            r = await client.get(f"{card}/entries", params=params, headers=auth)
            assert r.status_code == 200, r.text
            return r.json()

        async def all_there() -> Any:
            return len((await listed())["items"]) == 5
        await until(all_there)
        first = await listed(limit=2)
        later = await rx.issued(doctor, patient_pinfl=VALID["pinfl"])  # newer than all: not on later pages
        await until(lambda: _has(listed, later["id"]))
        items, cursor = first["items"], first["next"]
        while cursor:
            body = await listed(limit=2, cursor=cursor)
            items, cursor = items + body["items"], body["next"]
        assert [i["kind"] for i in items] == ["inpatient_stay", "outpatient_visit", "prescription",
                                               "indicator", "diagnosis"]
        assert [i.get("record_id") for i in items[:3]] == [stay["id"], visit["id"], issued["id"]]
        assert items[2]["source"] == "erecipe" and items[2]["summary"]["number"] == issued["number"]
        keys = [(_when(i["performed_at"]), i.get("version_id") or i["id"]) for i in items]
        assert keys == sorted(keys, reverse=True) and len(set(keys)) == 5

        only = (await listed(kind="prescription"))["items"]
        assert [i["record_id"] for i in only] == [later["id"], issued["id"]]
        assert [i["kind"] for i in (await listed(kind="indicator"))["items"]] == ["indicator"]
        assert [i["kind"] for i in (await listed(kind="inpatient_stay"))["items"]] == ["inpatient_stay"]
        recent = (await listed(since=ago(days=1)))["items"]
        assert len(recent) == 5 and "diagnosis" not in {i["kind"] for i in recent}


async def _has(listed: Any, record_id: str) -> bool:
    return record_id in [i.get("record_id") for i in (await listed(kind="prescription"))["items"]]
