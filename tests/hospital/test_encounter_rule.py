"""One time rule for both encounter modules (ports.encounters): a visit or a stay takes the card
entries recorded while it is open, and a closed one takes no new entries, named or not, whatever
their ``performed_at``. Both cards show an entry alike (``status`` included)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec

from core.clock import utcnow
from tests.hospital.test_stays import ward
from tests.polyclinic.world import HOSP, MEDCARD, POLY, now_iso, patient, seed, settings_for, until
from tests.support import login, serving

ENTRY_KEYS = {"entry_id", "kind", "performed_at", "status", "summary"}


async def test_a_closed_visit_and_a_discharged_stay_take_no_new_entries(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        doc, nurse = await login(client, "doctor"), await login(client, "nurse")
        pid = await patient(client, doc)
        card = f"{MEDCARD}/patients/{pid}"
        visit = (await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc)).json()
        beds = (await ward(client, doc, "A", 2))["beds"]
        stay = (await client.post(f"{HOSP}/stays", headers=doc, json={
            "patient_id": pid, "bed_id": beds[0]["id"], "diagnosis": "J18.9"})).json()
        cards = {"visit": f"{POLY}/visits/{visit['id']}/card", "stay": f"{HOSP}/stays/{stay['id']}/card"}

        async def pulses(url: str) -> list[Any]:
            return [i["summary"]["value"] for i in (await client.get(url, headers=doc)).json()["indicators"]]

        async def record(value: int, **more: Any) -> None:
            body = {"code": "pulse", "value": value, "performed_at": now_iso(), **more}
            r = await client.post(f"{card}/indicators", json=body, headers=nurse)
            assert r.status_code == 201, r.text

        while_open = utcnow().isoformat()
        await record(70)  # unnamed, during both: on both cards
        dx = {"code": "J18.9", "rank": "primary", "verification": "confirmed", "performed_at": now_iso(),
              "encounter_id": visit["id"]}
        assert (await client.post(f"{card}/diagnoses", json=dx, headers=doc)).status_code == 201
        await until(lambda: _holds(client, doc, cards["visit"], "diagnoses"))
        await until(lambda: _equal(pulses, cards["stay"], [70]))
        closed = await client.post(f"{POLY}/visits/{visit['id']}/close", json={}, headers=doc)
        out = {"diagnosis": "J18.9", "outcome": "recovered", "summary": "Pneumonia treated."}
        discharged = await client.post(f"{HOSP}/stays/{stay['id']}/discharge", json=out, headers=doc)
        assert closed.status_code == 200 and discharged.status_code == 200, (closed.text, discharged.text)

        await record(91, encounter_id=stay["id"])  # performed after the discharge, naming the stay
        await record(92, encounter_id=visit["id"])  # performed after the close, naming the visit
        await record(93)  # unnamed, performed after both
        await record(94, performed_at=while_open)  # performed while both were open, recorded after

        # the cards' consumers take events in commit order: once a later entry is on the new
        # encounters' cards, the four above were handled
        again = (await client.post(f"{POLY}/visits", json={"patient_id": pid}, headers=doc)).json()
        restay = (await client.post(f"{HOSP}/stays", headers=doc, json={
            "patient_id": pid, "bed_id": beds[1]["id"], "diagnosis": "J18.9"})).json()
        await record(75)
        later = {"visit": f"{POLY}/visits/{again['id']}/card", "stay": f"{HOSP}/stays/{restay['id']}/card"}
        for url in later.values():
            await until(lambda url=url: _equal(pulses, url, [75]))
        assert {name: await pulses(url) for name, url in cards.items()} == {"visit": [70], "stay": [70]}

        shown = [(await client.get(url, headers=doc)).json()["indicators"][0] for url in cards.values()]
        assert all(set(entry) == ENTRY_KEYS and entry["status"] == "current" for entry in shown), shown
        assert shown[0] == shown[1]  # one entry, shown alike by both modules


async def test_an_entry_recorded_while_the_stay_is_open_lands_on_it_when_delivered_after(db_url: str) -> None:
    """Judged by the recording time, not by delivery or ``performed_at``: a pulse named to the stay,
    recorded before the discharge with ``performed_at`` a little ahead (within the card's clock
    skew, so after the discharge), and delivered only after the discharge, lands on the stay."""
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(msgspec.structs.replace(settings, run_relay=False)) as client:  # nothing delivered
        doc, nurse = await login(client, "doctor"), await login(client, "nurse")
        pid = await patient(client, doc)
        bed = (await ward(client, doc, "B", 1))["beds"][0]["id"]
        stay = (await client.post(f"{HOSP}/stays", headers=doc, json={
            "patient_id": pid, "bed_id": bed, "diagnosis": "I10"})).json()
        ahead = (utcnow() + timedelta(seconds=60)).isoformat()
        r = await client.post(f"{MEDCARD}/patients/{pid}/indicators", headers=nurse, json={
            "code": "pulse", "value": 88, "performed_at": ahead, "encounter_id": stay["id"]})
        assert r.status_code == 201, r.text
        out = {"diagnosis": "I10", "outcome": "improved", "summary": "Controlled."}
        assert (await client.post(f"{HOSP}/stays/{stay['id']}/discharge", json=out, headers=doc)).status_code == 200
        assert (await client.get(f"{HOSP}/stays/{stay['id']}/card", headers=doc)).json()["indicators"] == []
    async with serving(settings) as client:  # the relay delivers now, after the discharge
        doc = await login(client, "doctor")
        got = await until(lambda: _holds(client, doc, f"{HOSP}/stays/{stay['id']}/card", "indicators"))
        assert [i["entry_id"] for i in got["indicators"]] == [r.json()["id"]]


async def _holds(client: Any, auth: dict[str, str], url: str, section: str) -> Any:
    got = (await client.get(url, headers=auth)).json()
    return got if got[section] else None


async def _equal(read: Any, url: str, expected: Any) -> bool:
    return bool(await read(url) == expected)
