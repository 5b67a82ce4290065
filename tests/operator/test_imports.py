"""Onboarding imports: bad rows rejected with reasons, good rows kept, re-runs change nothing,
and 10,000 rows in reasonable time (the time is printed: run pytest with -s to see it)."""

from __future__ import annotations

import io
import time

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from host.audit import audit_log
from host.operator import imports
from host.web.app import create_app
from tests.access.world import pinfl
from tests.operator.world import seed
from tests.support import PASSWORD, opened

STAFF_HEADER = ",".join(imports.STAFF_COLUMNS)
QUAL = "DIP-1,Tashkent Medical Academy,2019-06-30"


def staff_csv(lines: list[str]) -> list[tuple[int, dict[str, str]]]:
    return imports.read_csv(io.StringIO("\n".join([STAFF_HEADER, *lines]) + "\n"), imports.STAFF_COLUMNS)


async def test_staff_import_rejects_bad_rows_keeps_good_ones_and_is_idempotent(db_url: str) -> None:
    s, _ = await seed(db_url)
    rows = staff_csv([
        f"n.karimova,Karimova Nigora,{pinfl(10)},F1,nurse,{QUAL},",
        f"n.karimova,Karimova Nigora,{pinfl(10)},F1,doctor,{QUAL},",  # a second role, same person
        f"a.aliev,Aliev Anvar,{pinfl(11)},F1,doctor,,,,",  # no qualification
        f"b.bekov,Bekov Bek,{pinfl(12)},F9,doctor,{QUAL},",  # unknown facility
        f"c.chori,Chori Chorshanba,12345678901234,F1,nurse,{QUAL},",  # bad PINFL
        f"d.dori,Dori Dilshod,{pinfl(13)},F1,pharmacist,{QUAL},",  # no pharmaceutical education
        f"n.karimova,Someone Else,{pinfl(14)},F1,nurse,{QUAL},",  # login of another person
        f"e.ergash,Ergash Elyor,{pinfl(15)},F1,pharmacist,{QUAL},higher pharmaceutical",
    ])
    async with opened(s) as rt:
        first = await imports.import_staff(rt, rows, progress=None)
        again = await imports.import_staff(rt, rows, progress=None)
        people = {a.login: a for a in await rt.identity.accounts()}
        roles = sorted(g.role for g in await rt.identity.grants(people["n.karimova"].id))
        async with rt.storage.transaction(readonly=True) as tx:
            audited = (await tx.execute(select(func.count()).select_from(audit_log).where(
                audit_log.c.action == "operator.import/staff"))).scalar_one()
    assert (first.created, first.unchanged) == (3, 0)
    assert [(r.line, r.reason.split(":")[0].split(" ")[0]) for r in first.rejected] == [
        (4, "a"), (5, "unknown"), (6, "pinfl"), (7, "a"), (8, "login")]
    assert "qualification" in first.rejected[0].reason and "education" in first.rejected[3].reason
    assert (again.created, again.unchanged, again.rejected) == (0, 3, first.rejected)
    assert roles == ["doctor", "nurse"] and "a.aliev" not in people and "e.ergash" in people
    assert audited == 3


async def test_staff_import_of_10000_rows(db_url: str) -> None:
    s, _ = await seed(db_url)
    lines = [f"user{n},User Number {n},{pinfl(1000 + n)},F1,{('doctor', 'nurse')[n % 2]},{QUAL},"
             for n in range(10_000)]
    lines[500] = lines[500].replace(",F1,", ",F404,")
    rows = staff_csv(lines)
    progress = io.StringIO()
    async with opened(s) as rt:
        started = time.perf_counter()
        report = await imports.import_staff(rt, rows, progress=progress)
        took = time.perf_counter() - started
        again = await imports.import_staff(rt, rows, progress=None)
    print(f"\n[{db_url.split(':')[0]}] staff import: {report.summary()}; re-run {again.seconds:.1f} s")
    assert (report.created, len(report.rejected)) == (9_999, 1) and report.rejected[0].line == 502
    assert (again.created, again.unchanged) == (0, 9_999)
    assert progress.getvalue().rstrip().endswith("10000/10000")
    assert took < 300


def patient_rows(count: int, extra: tuple[str, ...] = ()) -> list[tuple[int, dict[str, str]]]:
    text = ["pinfl,surname,given_name,patronymic,birth_date,sex"]
    letters = ("".join(chr(97 + int(d)) for d in str(n)) for n in range(count))  # names have no digits
    text += [f"{pinfl(5000 + n)},Patient{tail},Ali,,1985-05-15,male" for n, tail in enumerate(letters)]
    return imports.read_csv(io.StringIO("\n".join([*text, *extra]) + "\n"), imports.PATIENT_COLUMNS)


async def test_patient_import_through_the_medcard_api(db_url: str) -> None:
    s, _ = await seed(db_url)
    rows = patient_rows(5, (
        f"{pinfl(1)},Bad,Date,,1990-01-01,male",  # the PINFL encodes 1985-05-15
        f"{pinfl(2)[:13]}{(int(pinfl(2)[13]) + 1) % 10},Bad,Check,,1985-05-15,male",
        f"{pinfl(3)},,Noname,,1985-05-15,male"))
    app = create_app(s)
    async with AsyncTestClient(app) as client:
        first = await imports.import_patients(client, rows, login="doc", password=PASSWORD, facility="F1",
                                              progress=None)
        again = await imports.import_patients(client, rows, login="doc", password=PASSWORD, facility="F1",
                                              progress=None)
        wrong = await imports.import_patients(client, rows[:1], login="op", password=PASSWORD, facility="F1",
                                              progress=None)
    assert (first.created, first.unchanged, [r.line for r in first.rejected]) == (5, 0, [7, 8, 9])
    assert "birth_date" in first.rejected[0].reason and "check digit" in first.rejected[1].reason
    assert "surname" in first.rejected[2].reason
    assert (again.created, again.unchanged, again.rejected) == (0, 5, first.rejected)
    assert wrong.rejected[0].reason.startswith("403")  # an operator registers no patients


async def test_patient_import_of_10000_rows(db_url: str) -> None:
    s, _ = await seed(db_url)
    rows = patient_rows(10_000)
    app = create_app(s)
    async with AsyncTestClient(app) as client:
        report = await imports.import_patients(client, rows, login="doc", password=PASSWORD, facility="F1",
                                               progress=None)
    print(f"\n[{db_url.split(':')[0]}] patient import: {report.summary()}")
    assert (report.created, report.rejected) == (10_000, [])
    assert report.seconds < 600
