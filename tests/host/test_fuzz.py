"""No input answers 5xx: a bounded schemathesis fuzz of every operation of the OpenAPI document,
as a doctor (acting for the seeded facility), a patient, an operator (the operator's routes take
parameters too) and an anonymous caller, on both databases.

The world is ``tests.clinical``'s history (a patient with a closed visit, a discharged stay, a
dispensed prescription) plus an open visit and an admitted stay, so cases aimed at those records
reach the transitions. ``SHIFO_FUZZ_EXAMPLES`` raises the examples per operation for a deeper run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx

from host.web.app import create_app
from tests.clinical import FACILITY, HOSP, POLY, build_history, seed, settings_for, signer_for
from tests.host.fuzzing import BASE, Tally, fuzz, operations
from tests.patient.sse import StreamingTransport
from tests.support import add_user, login, opened

EXAMPLES = int(os.environ.get("SHIFO_FUZZ_EXAMPLES", "10"))
#: the fuzz signs in many times from one address with made-up logins: no throttling of that address
UNTHROTTLED = {"identity": {"client_slow_after": 1_000_000, "client_lock_after": 1_000_000}}


async def _open_records(client: httpx.AsyncClient, doc: dict[str, str], patient_id: str) -> dict[str, str]:
    visit = await client.post(f"{POLY}/visits", json={"patient_id": patient_id}, headers=doc)
    ward = await client.post(f"{HOSP}/wards", headers=doc,
                             json={"name": "Fuzz ward", "profile": "therapy", "beds": ["F-1", "F-2"]})
    assert visit.status_code == 201 and ward.status_code == 201, (visit.text, ward.text)
    stay = await client.post(f"{HOSP}/stays", headers=doc, json={
        "patient_id": patient_id, "bed_id": ward.json()["beds"][0]["id"], "diagnosis": "I10"})
    assert stay.status_code == 201, stay.text
    return {"visit_id": visit.json()["id"], "stay_id": stay.json()["id"]}


def _aimed(h: dict[str, Any], opened: dict[str, str], ids: dict[str, Any]) -> list[dict[str, str]]:
    """Path parameters naming seeded records, by parameter name (FHIR reads take any ``rid``)."""
    first = {"patient_id": h["patient_id"], "visit_id": opened["visit_id"], "stay_id": opened["stay_id"],
             "entry_id": h["bp_id"], "rx": h["rx_id"], "number": h["rx_number"], "rid": h["patient_id"],
             "fid": FACILITY, "account_id": str(ids["nurse"])}
    second = {**first, "visit_id": h["visit_id"], "stay_id": h["stay_id"], "entry_id": h["diagnosis_id"],
              "rid": h["rx_id"]}
    return [{k: str(v) for k, v in aimed.items()} for aimed in (first, second)]


async def test_no_input_answers_5xx(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path / "keys", extra=UNTHROTTLED)
    ids = await seed(settings, patient_account=True)
    async with opened(settings) as rt:
        await add_user(rt, "operator", kind="operator")
    app = create_app(settings)
    tally = Tally()
    async with app.lifespan(), httpx.AsyncClient(transport=StreamingTransport(app), base_url=BASE) as client:
        h = await build_history(client, signer_for(settings))
        doc = h["headers"]["doctor"]
        records = await _open_records(client, doc, h["patient_id"])
        document = (await client.get("/schema/openapi.json")).json()
        ops = operations(document)

        async def doctor() -> dict[str, str]:
            return {**await login(client, "doctor"), "X-Facility": FACILITY}

        async def patient() -> dict[str, str]:
            return await login(client, "patient")

        async def operator() -> dict[str, str]:
            return await login(client, "operator")

        async def anonymous() -> dict[str, str]:
            return {}

        started = time.monotonic()
        await fuzz(client, ops, [("doctor", doctor), ("patient", patient), ("operator", operator),
                                 ("anonymous", anonymous)],
                   EXAMPLES, _aimed(h, records, ids), tally)
        took = time.monotonic() - started
    print(f"fuzz: {tally.operations} operations, {tally.requests} requests in {took:.0f} s, "
          f"statuses {dict(sorted(tally.statuses.items()))}, by caller {dict(sorted(tally.by_principal.items()))}")
    assert tally.operations == len(ops) > 100  # the whole document, every module's routes
    assert tally.statuses[200] > 50  # aimed cases do reach the handlers
    assert not tally.failures, f"{len(tally.failures)} answers of 5xx:\n" + "\n".join(tally.failures)
