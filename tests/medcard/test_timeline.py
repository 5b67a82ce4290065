"""The timeline: keyset pages stay stable while entries arrive; filters by kind and date range."""

from __future__ import annotations

import asyncio
from datetime import datetime

from tests.medcard.card import API, ago, diagnosis, new_patient, pulse, seed, settings_for
from tests.support import login, serving


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
