"""The operator's commands, run as a separate process: import (with a reject report), status and
review enforce."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from tests.access.world import pinfl
from tests.host.test_cli import shifo
from tests.operator.world import MODULES, seed
from tests.support import PASSWORD


async def test_import_status_and_review_commands(db_url: str, tmp_path: Path) -> None:
    await seed(db_url)
    env = {"SHIFO_DATABASE_URL": db_url, "SHIFO_MODULES": ",".join(MODULES), "SHIFO_RUN_RELAY": "0",
           "SHIFO_IMPORT_PASSWORD": PASSWORD}
    staff = tmp_path / "staff.csv"
    staff.write_text("login,full_name,pinfl,facility,role,qualification_number,qualification_issuer,"
                     "qualification_date,education\n"
                     f"z.zokirov,Zokirov Zafar,{pinfl(40)},F1,doctor,D-1,TMA,2018-07-01,\n"
                     f"y.yusupov,Yusupov Yunus,{pinfl(41)},F1,nurse,,,,\n")
    run = await asyncio.to_thread(shifo, tmp_path, "import", "staff", str(staff), "--rejects",
                                  str(tmp_path / "rejects.csv"), **env)
    assert run.returncode == 4, run.stderr
    assert "2 rows, 1 imported, 0 already present, 1 rejected" in run.stdout
    assert run.stderr == ""  # no progress bar where stderr is not a terminal
    rejected = list(csv.DictReader((tmp_path / "rejects.csv").open()))
    assert [(r["login"], r["line"]) for r in rejected] == [("y.yusupov", "3")] and "qualification" in rejected[0]["reason"]
    again = await asyncio.to_thread(shifo, tmp_path, "import", "staff", str(staff), **env)
    assert "0 imported, 1 already present, 1 rejected" in again.stdout

    patients = tmp_path / "patients.csv"
    patients.write_text("pinfl,surname,given_name,patronymic,birth_date,sex\n"
                        f"{pinfl(50)},Karimov,Aziz,,1985-05-15,male\n")
    run = await asyncio.to_thread(shifo, tmp_path, "import", "patients", str(patients), "--login", "doc",
                                  "--facility", "F1", **env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 rows, 1 imported" in run.stdout

    status = await asyncio.to_thread(shifo, tmp_path, "status", **env)
    assert status.returncode == 0, status.stderr
    assert "database" in status.stdout and "shifo_installations_overdue" in status.stdout
    enforce = await asyncio.to_thread(shifo, tmp_path, "review", "enforce", **env)
    assert enforce.returncode == 0 and "suspended 0 account(s)" in enforce.stdout
