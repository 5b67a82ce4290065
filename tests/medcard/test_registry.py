"""The patient registry over HTTP: PINFL checks, duplicates, search; the directory service."""

from __future__ import annotations

from uuid import UUID

from ports.directory import SERVICE, PatientDirectory
from tests.medcard.card import API, GIVEN, SURNAME, VALID, new_patient, seed, settings_for
from tests.support import login, opened, serving


async def test_register_refuse_and_search(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with serving(settings) as client:
        auth = await login(client, "nurse")
        pid = await new_patient(client, auth)
        again = await client.post(f"{API}/patients", json=VALID, headers=auth)
        assert again.status_code == 409
        for change, field in [({"pinfl": "30211975910034"}, "pinfl"), ({"pinfl": "33102975910033"}, "pinfl"),
                              ({"birth_date": "1997-11-03"}, "birth_date"), ({"sex": "female"}, "sex")]:
            r = await client.post(f"{API}/patients", json={**VALID, **change}, headers=auth)
            assert r.status_code == 422, (change, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["errors"][0]["field"] == field, r.json()
        for pinfl in ("٣0211975910033", "30211975910033\n", "3021197591003x"):
            r = await client.post(f"{API}/patients", json={**VALID, "pinfl": pinfl}, headers=auth)
            assert r.status_code in (400, 422), r.text
        r = await client.post(f"{API}/patients", json={**VALID, "surname": "Ali\n"}, headers=auth)
        assert r.status_code in (400, 422)

        found = await client.get(f"{API}/patients", params={"pinfl": VALID["pinfl"]}, headers=auth)
        assert [p["id"] for p in found.json()] == [pid]
        # Another apostrophe and case: the same patient.
        by_name = await client.get(f"{API}/patients", headers=auth, params={
            "surname": "O'RINBOYEV", "given_name": "g`ayrat", "birth_date": "1997-11-02"})
        assert [p["id"] for p in by_name.json()] == [pid]
        wrong_day = await client.get(f"{API}/patients", headers=auth, params={
            "surname": SURNAME, "birth_date": "1997-11-03"})
        assert wrong_day.json() == []
        bare = await client.get(f"{API}/patients", params={"surname": SURNAME}, headers=auth)
        assert bare.status_code == 422
        one = await client.get(f"{API}/patients/{pid}", headers=auth)
        assert one.json()["given_name"] == GIVEN
    async with opened(settings) as rt:
        directory: PatientDirectory = rt.services[SERVICE]
        summary = await directory.by_pinfl(VALID["pinfl"])
        assert summary is not None and summary.id == UUID(pid) and summary.surname == SURNAME
        assert (await directory.by_id(UUID(pid))) == summary
        assert await directory.by_pinfl("32505900123459") is None
        async with rt.storage.transaction() as tx:
            assert (await directory.by_id(UUID(pid), tx)) == summary
