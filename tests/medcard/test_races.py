"""A card entry corrected and marked entered in error at the same moment, with requests that really
overlap: each names the version it replaces, so one wins and the rest answer 409, never a 5xx; the
history is then exactly version 1 superseded and one version 2 that is the winner's."""

from __future__ import annotations

import asyncio

from tests.medcard.card import API, diagnosis, new_patient, seed, settings_for
from tests.races import no_5xx
from tests.support import login, racing


async def test_correction_and_entered_in_error_of_one_version_at_once(db_url: str) -> None:
    settings = settings_for(db_url)
    await seed(settings)
    async with racing(settings) as client:
        auth = await login(client, "doctor")
        pid = await new_patient(client, auth)
        card = f"{API}/patients/{pid}"
        for _ in range(4):
            eid = (await client.post(f"{card}/diagnoses", json=diagnosis(), headers=auth)).json()["id"]
            fixes = [{"version": 1, "reason": f"confirmed {n}", "entry": diagnosis("J02.0", verification="confirmed")}
                     for n in range(3)]
            errors = [{"version": 1, "reason": f"wrong patient {n}"} for n in range(3)]
            answers = await asyncio.gather(
                *(client.post(f"{card}/diagnoses/{eid}/versions", json=f, headers=auth) for f in fixes),
                *(client.post(f"{card}/diagnoses/{eid}/entered-in-error", json=e, headers=auth) for e in errors))
            codes = no_5xx(answers)
            assert sorted(codes) == [201] + [409] * 5, codes
            won = answers[codes.index(201)].json()
            history = (await client.get(f"{card}/entries/{eid}/history", headers=auth)).json()
            assert [(h["version"], h["status"]) for h in history] == [(1, "superseded"), (2, won["status"])]
            assert history[1]["reason"] == won["reason"]  # the stored version 2 is the winner's
            assert won["status"] == ("current" if codes.index(201) < 3 else "entered_in_error")
