"""A patient can never reach another patient's data: for every route under /api/v1/patient (read
from the app's routes, so a new route cannot escape), each of five patients sees only their own
records; another's visit, stay or prescription id answers 404; ``?patient=``, ``?pinfl=`` and
``?patient_id=`` change nothing; a staff token and no token answer 401."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from litestar.routes import HTTPRoute

from host.web import patient_stream
from tests.clinical import MEDCARD, signer_for
from tests.patient.world import PATIENT_API, build, markers, seed, settings_for
from tests.support import serving

PATIENTS = 5
#: the path segment before an id -> which of a patient's ids it takes. A new route with an id
#: fails the test until it is named here (and so tested).
FAMILY = {"visits": "visit_id", "stays": "stay_id", "prescriptions": "rx_id"}
PARAM = re.compile(r"\{(\w+):\w+\}")
STREAMS = {getattr(h, "fn", h) for h in patient_stream.HANDLERS}  # endless answers: auth checks only


def patient_routes(app: Any) -> list[tuple[str, str, bool]]:
    """(method, path template, is a stream) of every handler mounted under the patient API."""
    found = []
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith(f"{PATIENT_API}/"):
            for handler in route.route_handlers:
                for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                    found.append((method, route.path, getattr(handler, "fn", handler) in STREAMS))
    return sorted(found)


def fill(template: str, rec: dict[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        before = template[: m.start()].rstrip("/").rsplit("/", 1)[-1]
        assert before in FAMILY, f"{template}: name which patient id {{{m.group(1)}}} takes in FAMILY"
        return str(rec[FAMILY[before]])
    return PARAM.sub(one, template)


async def test_each_patient_reaches_only_their_own_record_on_every_route(db_url: str, tmp_path: Path) -> None:
    settings = settings_for(db_url, tmp_path / "keys")
    await seed(settings, patients=PATIENTS)
    async with serving(settings) as client:
        records = await build(client, signer_for(settings), patients=PATIENTS)
        staff = records[0]["headers"]["doctor"]
        routes = patient_routes(client.app)
        assert {p for _, p, _ in routes} >= {f"{PATIENT_API}/{p}" for p in (
            "card", "card/indicators", "history", "visits", "visits/{visit_id:uuid}/card", "stays",
            "stays/{stay_id:uuid}/card", "prescriptions", "prescriptions/{rx:uuid}", "access-log")}
        for me in records:
            others = [r for r in records if r is not me]
            foreign = set().union(*(markers(r) for r in others))
            shown: set[str] = set()
            for method, template, stream in routes:
                path = fill(template, me)
                nobody: dict[str, str] = {}
                for headers in (staff, nobody):
                    refused = await client.request(method, path, headers=headers)
                    assert refused.status_code == 401, (template, refused.text)
                if stream:
                    continue
                mine = await client.request(method, path, headers=me["token"])
                assert mine.status_code == 200, (template, mine.text)
                leaked = {m for m in foreign if m in mine.text}
                shown |= {m for m in markers(me) if m in mine.text}
                assert not leaked, f"{me['login']} sees {leaked} of another patient on {template}"
                other = others[0]
                probing = {"patient": other["pinfl"], "pinfl": other["pinfl"], "patient_id": other["patient_id"]}
                probed = await client.request(method, path, params=probing, headers=me["token"])
                same = (probed.json() == mine.json() if "json" in mine.headers.get("content-type", "")
                        else probed.content == mine.content)  # e.g. a prescription's QR code (SVG)
                assert probed.status_code == 200 and same, template
                if PARAM.search(template):
                    for o in others:
                        theirs = await client.request(method, fill(template, o), headers=me["token"])
                        assert theirs.status_code == 404, (template, theirs.text)
            # the routes did show this patient's own data (so the leak check looked at real answers)
            assert {str(me[k]) for k in ("pinfl", "visit_id", "stay_id", "rx_id", "lab_id")} <= shown
            # and the patient's token opens no staff route, even for their own card
            staff_route = await client.get(f"{MEDCARD}/patients/{me['patient_id']}/entries", headers=me["token"])
            assert staff_route.status_code == 401
