"""The operator's writes at once, with requests that really overlap: facilities created and updated,
a calendar override set twice, review campaigns opened, and two staff imports of one file. Each
change is one unit re-run whole when it loses (ports.conflicts.run_unit): one winner where only one
is possible and a clean 409 for the rest, a whole change where all may pass, never a 5xx."""

from __future__ import annotations

import asyncio
from pathlib import Path

from host.operator import imports
from tests.access.world import pinfl
from tests.operator.test_imports import QUAL, read, staff_csv
from tests.operator.world import seed
from tests.races import no_5xx
from tests.support import opened, racing

OP = "/api/v1/operator"


def facility(n: int, fid: str = "H7") -> dict[str, str]:
    return {"id": fid, "name": f"Hospital {n}", "kind": "hospital", "region": "Tashkent",
            "tin": f"{200000000 + n}", "licence_number": f"LIC-{n}"}


async def test_one_facility_code_created_at_once_and_updated_at_once(db_url: str) -> None:
    s, w = await seed(db_url)
    op = w["op"]
    async with racing(s) as client:
        codes = no_5xx(await asyncio.gather(*(client.post(f"{OP}/facilities", json=facility(n), headers=op)
                                              for n in range(6))))
        assert sorted(codes) == [201] + [409] * 5, codes
        listed = [f["id"] for f in (await client.get(f"{OP}/facilities", headers=op)).json()]
        assert listed.count("H7") == 1
        bodies = [{k: v for k, v in facility(10 + n).items() if k != "id"} for n in range(6)]
        codes = no_5xx(await asyncio.gather(*(client.put(f"{OP}/facilities/H7", json=b, headers=op)
                                              for b in bodies)))
        assert codes == [200] * 6, codes  # each update applies whole, the last one stays
        now = (await client.get(f"{OP}/facilities/H7", headers=op)).json()
        n = int(now["name"].split()[-1])  # the name and the licence come from the same request
        assert (now["tin"], now["licence_number"]) == (f"{200000000 + n}", f"LIC-{n}")


async def test_one_calendar_day_overridden_at_once(db_url: str) -> None:
    s, w = await seed(db_url)
    op = w["op"]
    async with racing(s) as client:
        bodies = [{"day": "2026-06-01", "working": n % 2 == 0, "reason": f"decree {n}"} for n in range(6)]
        codes = no_5xx(await asyncio.gather(*(client.put(f"{OP}/calendar/overrides", json=b, headers=op)
                                              for b in bodies)))
        assert codes == [200] * 6, codes  # a PUT of the day: whoever commits last stays
        days = (await client.get(f"{OP}/calendar/overrides", headers=op)).json()
        assert len(days) == 1 and days[0] in bodies, days


async def test_review_campaigns_opened_at_once(db_url: str) -> None:
    s, w = await seed(db_url)
    op = w["op"]
    async with racing(s) as client:
        answers = await asyncio.gather(*(client.post(f"{OP}/review/campaigns", json={"title": f"c{n}"},
                                                     headers=op) for n in range(5)))
        assert no_5xx(answers) == [201] * 5
        assert len({a.json()["id"] for a in answers}) == 5


async def test_two_staff_imports_of_one_file_at_once(db_url: str, tmp_path: Path) -> None:
    s, _ = await seed(db_url)
    rows = read(staff_csv(tmp_path, [f"u{n},User {n},{pinfl(300 + n)},F1,{('doctor', 'nurse')[n % 2]},{QUAL},"
                                     for n in range(40)]), imports.STAFF_COLUMNS)
    async with opened(s) as rt:
        first, second = await asyncio.wait_for(asyncio.gather(
            imports.import_staff(rt, rows), imports.import_staff(rt, rows)), 60)
        people = {a.login for a in await rt.identity.accounts()}
    assert first.rejected == [] and second.rejected == [], (first.rejected[:3], second.rejected[:3])
    assert first.created + second.created == 40 and first.unchanged + second.unchanged == 40
    assert {f"u{n}" for n in range(40)} <= people
