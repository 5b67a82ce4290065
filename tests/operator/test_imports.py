"""Onboarding imports: bad rows rejected with reasons, good rows kept, re-runs change nothing, the
rejects file imports again once fixed, a cp1251 ``;`` file reads as a UTF-8 one, a known PINFL
with other names is a conflict, a clinician who may not register at the facility is refused
before the first row, and 10,000 rows in reasonable time (the time is printed: run pytest with -s
to see it)."""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from core.errors import Forbidden
from host.audit import audit_log
from host.operator import csv_files, imports
from host.operator.patient_imports import import_patients
from host.web.app import create_app
from tests.access.world import pinfl
from tests.operator.world import seed
from tests.support import PASSWORD, opened

#: rows of the larger imports: several chunks of CHUNK rows each. A 10,000-row run takes minutes,
#: a load rather than a test: `SHIFO_IMPORT_ROWS=10000` for it.
ROWS = int(os.environ.get("SHIFO_IMPORT_ROWS", "2000"))

STAFF_HEADER = ",".join(imports.STAFF_COLUMNS)
QUAL = "DIP-1,Tashkent Medical Academy,2019-06-30"


def staff_csv(tmp: Path, lines: list[str]) -> Path:
    path = tmp / "staff.csv"
    path.write_text("\n".join([STAFF_HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def read(path: Path, columns: tuple[str, ...], **options: str) -> list[tuple[int, dict[str, str]]]:
    with csv_files.opened(str(path), **options) as table:
        imports.check_header(table, columns)
        return list(table.rows())


async def test_staff_import_rejects_bad_rows_keeps_good_ones_and_is_idempotent(db_url: str, tmp_path: Path) -> None:
    s, _ = await seed(db_url)
    path = staff_csv(tmp_path, [
        f"n.karimova,Karimova Nigora,{pinfl(10)},F1,nurse,{QUAL},",
        f"n.karimova,Karimova Nigora,{pinfl(10)},F1,doctor,{QUAL},",  # a second role, same person
        f"a.aliev,Aliev Anvar,{pinfl(11)},F1,doctor,,,,",  # no qualification
        f"b.bekov,Bekov Bek,{pinfl(12)},F9,doctor,{QUAL},",  # unknown facility
        f"c.chori,Chori Chorshanba,12345678901234,F1,nurse,{QUAL},",  # bad PINFL
        f"d.dori,Dori Dilshod,{pinfl(13)},F1,pharmacist,{QUAL},",  # no pharmaceutical education
        f"n.karimova,Someone Else,{pinfl(14)},F1,nurse,{QUAL},",  # login of another person
        f"e.ergash,Ergash Elyor,{pinfl(15)},F1,pharmacist,{QUAL},higher pharmaceutical",
    ])
    rejects, fixed = tmp_path / "rejects.csv", tmp_path / "fixed.csv"
    async with opened(s) as rt:
        first = await imports.import_staff(rt, read(path, imports.STAFF_COLUMNS))
        again = await imports.import_staff(rt, read(path, imports.STAFF_COLUMNS))
        with csv_files.opened(str(path)) as table:
            imports.write_rejects(first, table, str(rejects))
        # the clerk fixes two of the rows in the rejects file and imports it as it is
        rows = list(csv.DictReader(rejects.open(encoding="utf-8")))
        rows[0].update(qualification_number="DIP-2", qualification_issuer="TMA", qualification_date="2020-07-01")
        rows[1]["facility"] = "F1"
        with fixed.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        refixed = await imports.import_staff(rt, read(fixed, imports.STAFF_COLUMNS))
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
    # the rejects file: the original columns, then the line and the reason
    assert list(rows[0]) == [*imports.STAFF_COLUMNS, "line", "reason"]
    assert [(r["login"], r["line"]) for r in rows] == [
        ("a.aliev", "4"), ("b.bekov", "5"), ("c.chori", "6"), ("d.dori", "7"), ("n.karimova", "8")]
    assert (refixed.created, [r.line for r in refixed.rejected]) == (2, [4, 5, 6])
    assert refixed.rejected[0].reason == first.rejected[2].reason  # still the bad PINFL
    assert roles == ["doctor", "nurse"] and {"a.aliev", "b.bekov", "e.ergash"} <= set(people)
    assert audited == 5


async def test_staff_import_of_many_rows(db_url: str, tmp_path: Path) -> None:
    s, _ = await seed(db_url)
    lines = [f"user{n},User Number {n},{pinfl(1000 + n)},F1,{('doctor', 'nurse')[n % 2]},{QUAL},"
             for n in range(ROWS)]
    lines[500] = lines[500].replace(",F1,", ",F404,")
    rows = read(staff_csv(tmp_path, lines), imports.STAFF_COLUMNS)
    steps: list[tuple[int, int]] = []
    async with opened(s) as rt:
        started = time.perf_counter()
        report = await imports.import_staff(rt, rows, progress=lambda done, total: steps.append((done, total)))
        took = time.perf_counter() - started
        again = await imports.import_staff(rt, rows)
    print(f"\n[{db_url.split(':')[0]}] staff import: {report.summary()}; re-run {again.seconds:.1f} s")
    assert (report.created, len(report.rejected)) == (ROWS - 1, 1) and report.rejected[0].line == 502
    assert (again.created, again.unchanged) == (0, ROWS - 1)
    assert steps[0] == (imports.CHUNK, ROWS) and steps[-1] == (ROWS, ROWS)
    assert took < 300


PATIENT_HEADER = "pinfl,surname,given_name,patronymic,birth_date,sex"


def patient_file(tmp: Path, count: int, extra: tuple[str, ...] = (), *, name: str = "patients.csv",
                 encoding: str = "utf-8", delimiter: str = ",") -> Path:
    letters = ("".join(chr(97 + int(d)) for d in str(n)) for n in range(count))  # names have no digits
    text = [PATIENT_HEADER, *(f"{pinfl(5000 + n)},Patient{tail},Ali,,1985-05-15,male"
                              for n, tail in enumerate(letters)), *extra]
    path = tmp / name
    path.write_bytes(("\n".join(text).replace(",", delimiter) + "\n").encode(encoding))
    return path


def untouchable() -> Iterator[tuple[int, dict[str, str]]]:
    raise AssertionError("a row was read before the clinician's right to register was checked")
    yield  # a generator: the assertion fires when the first row is asked for


async def test_patient_import_through_the_medcard_api(db_url: str, tmp_path: Path) -> None:
    s, _ = await seed(db_url)
    # an Excel export here: cp1251, semicolons, Cyrillic names
    path = patient_file(tmp_path, 4, (
        f"{pinfl(1)},Каримов,Азиз,Ўткирович,1985-05-15,male",
        f"{pinfl(2)},Bad,Date,,1990-01-01,male",  # the PINFL encodes 1985-05-15
        f"{pinfl(3)[:13]}{(int(pinfl(3)[13]) + 1) % 10},Bad,Check,,1985-05-15,male",
        f"{pinfl(4)},,Noname,,1985-05-15,male"), encoding="cp1251", delimiter=";")
    rows = read(path, imports.PATIENT_COLUMNS, encoding="cp1251", delimiter=";")
    assert rows[4] == (6, {"pinfl": pinfl(1), "surname": "Каримов", "given_name": "Азиз",
                           "patronymic": "Ўткирович", "birth_date": "1985-05-15", "sex": "male"})
    renamed = [(line, {**row, "surname": "Karimova"} if line == 6 else row) for line, row in rows]
    app = create_app(s)
    async with AsyncTestClient(app) as client:
        for login, facility, said in (("doc", "F9", "F9"), ("op", "F1", "staff")):  # no right there; no clinician
            with pytest.raises(Forbidden, match=f"{login} may not register patients at {facility}: 403.*{said}"):
                await import_patients(client, untouchable(), login=login, password=PASSWORD, facility=facility)
        async with opened(s) as rt, rt.storage.transaction(readonly=True) as tx:
            refusals = (await tx.execute(select(func.count()).select_from(audit_log).where(
                audit_log.c.outcome.startswith("denied")))).scalar_one()
        first = await import_patients(client, rows, login="doc", password=PASSWORD, facility="F1")
        again = await import_patients(client, renamed, login="doc", password=PASSWORD, facility="F1")
    assert refusals == 2  # one each, not one per row
    assert (first.created, first.unchanged, first.conflicts) == (5, 0, [])
    assert [r.line for r in first.rejected] == [7, 8, 9]
    assert "birth_date" in first.rejected[0].reason and "check digit" in first.rejected[1].reason
    assert "surname" in first.rejected[2].reason and first.rejected[2].row["given_name"] == "Noname"
    # a known PINFL under another surname is a conflict, listed with the rejected rows
    assert (again.created, again.unchanged, again.rejected) == (0, 4, first.rejected)
    [conflict] = again.conflicts
    assert conflict.line == 6 and conflict.reason == "conflict: the PINFL is registered with another surname"
    assert [r.line for r in again.refused()] == [6, 7, 8, 9] and "1 in conflict" in again.summary()


async def test_patient_import_of_many_rows(db_url: str, tmp_path: Path) -> None:
    s, _ = await seed(db_url)
    rows = read(patient_file(tmp_path, ROWS), imports.PATIENT_COLUMNS)
    app = create_app(s)
    async with AsyncTestClient(app) as client:
        report = await import_patients(client, rows, login="doc", password=PASSWORD, facility="F1")
    print(f"\n[{db_url.split(':')[0]}] patient import: {report.summary()}")
    assert (report.created, report.rejected) == (ROWS, [])
    assert report.seconds < 600
