"""``shifo import patients`` as a clerk runs it (in process, ``host.cli.main``): an Excel export in
cp1251 with semicolons, a facility the clinician may not register at refused in one line before any
row, the rejects file written as the source was read, and a progress bar only at a terminal."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from host import cli
from host.operator import csv_files
from tests.access.world import pinfl
from tests.operator.world import MODULES, seed
from tests.support import PASSWORD

Run = tuple[int, str, str]


async def test_a_cp1251_semicolon_file_and_a_facility_refused_before_any_row(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    await seed(db_url)
    for name in [n for n in os.environ if n.startswith("SHIFO_")]:
        monkeypatch.delenv(name)
    for name, value in {"SHIFO_DATABASE_URL": db_url, "SHIFO_MODULES": ",".join(MODULES),
                        "SHIFO_RUN_RELAY": "0", "SHIFO_IMPORT_PASSWORD": PASSWORD}.items():
        monkeypatch.setenv(name, value)
    patients = tmp_path / "patients.csv"
    patients.write_bytes("pinfl;surname;given_name;patronymic;birth_date;sex\n"
                         f"{pinfl(60)};Каримов;Азиз;Ўткирович;1985-05-15;male\n"
                         f"{pinfl(61)};Бобоев;;;1985-05-15;male\n".encode("cp1251"))
    rejects = tmp_path / "rejects.csv"

    async def shifo(*args: str) -> Run:
        code = await asyncio.to_thread(cli.main, ["import", "patients", str(patients), "--login", "doc",
                                                  "--encoding", "cp1251", "--delimiter", ";", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, err = await shifo("--facility", "F9")
    assert (code, out) == (1, "") and err.count("\n") == 1, err
    assert err.startswith("shifo: error: doc may not register patients at F9: 403"), err

    code, out, err = await shifo("--facility", "F1", "--rejects", str(rejects))
    assert code == 4 and err == "", err  # not a terminal: no progress bar
    assert "2 rows, 1 imported, 0 already present, 1 rejected, 0 in conflict" in out
    with csv_files.opened(str(rejects), encoding="cp1251", delimiter=";") as table:
        assert table.header == ("pinfl", "surname", "given_name", "patronymic", "birth_date", "sex",
                                "line", "reason")
        [(_, row)] = list(table.rows())
    assert (row["surname"], row["line"]) == ("Бобоев", "3") and "given_name" in row["reason"]

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # at a terminal
    code, out, err = await shifo("--facility", "F1")
    assert code == 4 and "1 already present" in out
    assert "patients" in err and "2/2" in err, err  # rich's bar, on stderr only
