"""The ``shifo`` command at a terminal: what goes wrong is one line on stderr (``shifo: error: ...``
or ``shifo: configuration error: ...``) and a non-zero exit, never a traceback; ``--version``,
the accounts table and ``--json`` output. Run in process (``host.cli.main``), on both databases
where the database matters: one empty database per backend and one module-scoped migrated world."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from host import cli
from host.settings import Settings
from tests.conftest import PG_DSN, _pg_admin
from tests.host.test_cli import rows
from tests.support import PASSWORD, add_facility, add_user, opened

MODULES = "medcard"
Run = tuple[int, str, str]


@pytest.fixture
def shifo(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """``shifo(*args, **env)`` -> (exit code, stdout, stderr), with only the ``SHIFO_*`` given."""

    def run(*args: str, **env: str) -> Run:
        for name in [n for n in os.environ if n.startswith("SHIFO_")]:
            monkeypatch.delenv(name)
        for name, value in {"SHIFO_MODULES": MODULES, "SHIFO_RUN_RELAY": "0", **env}.items():
            monkeypatch.setenv(name, value)
        code = cli.main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def one_line(run: Run, code: int, label: str, *said: str) -> None:
    got, out, err = run
    assert got == code, (out, err)
    assert err.startswith(f"shifo: {label}: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and all(s in err for s in said), err


async def _create_pg(name: str) -> str:
    admin = await _pg_admin()
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return f"{PG_DSN.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"


async def _drop_pg(names: list[str]) -> None:
    admin = await _pg_admin()
    for name in names:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def _seed(url: str) -> None:
    async with opened(Settings(database_url=url, run_relay=False, modules=(MODULES,))) as rt:
        await add_facility(rt, "F1", [MODULES])
        await add_user(rt, "doc", grants=[("F1", "doctor")])


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database without our tables, on each backend: they word "no such table" differently."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('cli') / 'empty.db'}"
        return
    name = f"shifo_t_{uuid.uuid4().hex[:12]}"
    try:
        yield asyncio.run(_create_pg(name))
    finally:
        asyncio.run(_drop_pg([name]))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database with facility F1 and a doctor ``doc``. SQLite only: what is checked with
    it (refusals, labels, output formats) is the command's, the same on either backend."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('cli') / 'world.db'}"
    asyncio.run(_seed(url))
    return url


def test_an_unmigrated_database_says_run_migrate(shifo, empty: str) -> None:  # type: ignore[no-untyped-def]
    for args in (("events", "failed"), ("status",)):
        one_line(shifo(*args, SHIFO_DATABASE_URL=empty), 1, "error", "not migrated",
                 "run shifo migrate")


@pytest.mark.postgres
def test_a_postgresql_database_that_does_not_exist_is_named(shifo) -> None:  # type: ignore[no-untyped-def]
    name = f"shifo_missing_{uuid.uuid4().hex[:8]}"
    url = f"{PG_DSN.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    for args in (("migrate",), ("accounts", "list")):
        one_line(shifo(*args, SHIFO_DATABASE_URL=url), 1, "error", f'database "{name}" does not exist',
                 "createdb")


@pytest.mark.postgres
def test_a_refused_database_sign_in_says_so(shifo) -> None:  # type: ignore[no-untyped-def]
    url = PG_DSN.replace("postgresql://postgres@", "postgresql+asyncpg://nobody_j:secret@")
    one_line(shifo("accounts", "list", SHIFO_DATABASE_URL=url), 1, "error", 'role "nobody_j"',
             "user and password of SHIFO_DATABASE_URL")
    assert "secret" not in shifo("migrate", SHIFO_DATABASE_URL=url)[2]


def test_a_mistyped_sqlite_path_is_refused_but_var_is_made(shifo, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    typo = tmp_path / "vra" / "shifo.db"
    one_line(shifo("migrate", SHIFO_DATABASE_URL=f"sqlite+aiosqlite:///{typo}"), 2, "configuration error",
             str(typo.parent), "does not exist")
    assert not typo.parent.exists()
    monkeypatch.chdir(tmp_path)  # `make run`: the default URL, var/ beside the checkout
    one_line(shifo("events", "failed", SHIFO_DATABASE_URL="sqlite+aiosqlite:///var/shifo.db"), 1, "error",
             "run shifo migrate")
    assert (tmp_path / "var" / "shifo.db").exists()


def test_a_csv_that_is_not_utf8_names_the_line_and_byte(shifo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    staff = tmp_path / "staff.csv"
    staff.write_bytes(b"login,full_name,pinfl,facility,role,qualification_number,qualification_issuer,"
                      b"qualification_date,education\n"
                      b"a.aliyev,Aliyev Ali,,F1,nurse,,,,\n"
                      + "b.bek,Bek Bahodir Ерк,,F1,nurse,,,,\n".encode("cp1251"))
    offset = staff.read_bytes().index(b"\xc5")
    one_line(shifo("import", "staff", str(staff), SHIFO_DATABASE_URL="sqlite+aiosqlite:///:memory:"),
             1, "error", "not UTF-8", "line 3", f"offset {offset}", "0xc5", str(staff))
    staff.write_text("login,full_name\nx,y\n")
    one_line(shifo("import", "staff", str(staff)), 1, "error", "lacks", "pinfl")


def test_a_bad_operator_section_is_a_configuration_error(shifo) -> None:  # type: ignore[no-untyped-def]
    for extra in ('{"operator": {"week_days": "five"}}', '{"operator": 5}'):
        one_line(shifo("status", SHIFO_EXTRA=extra), 2, "configuration error", "SHIFO_EXTRA", "'operator'")


def test_version_answers_even_with_a_broken_environment(shifo) -> None:  # type: ignore[no-untyped-def]
    from importlib.metadata import version

    assert shifo("--version", SHIFO_EXTRA="{broken") == (0, f"shifo {version('shifo')}\n", "")


def test_refused_account_changes_are_errors_not_tracebacks(shifo, world: str,  # type: ignore[no-untyped-def]
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"SHIFO_DATABASE_URL": world}

    def no_terminal(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("getpass.getpass", no_terminal)  # run from a script: nobody to ask
    one_line(shifo("accounts", "create", "nurse.x", "--name", "X", **env), 1, "error", "SHIFO_NEW_PASSWORD")
    refused = shifo("accounts", "grant", "doc", "--facility", "F1", "--role", "pharmacist",
                    "--qualification", "L-1", "--issuer", "MoH", "--issued", "2020-01-01", **env)
    one_line(refused, 1, "error", "pharmacist", "education")
    one_line(shifo("accounts", "suspend", "nobody", **env), 1, "error", "no account 'nobody'")
    code, out, _ = shifo("accounts", "list", **env)
    table = rows(out)
    assert code == 0 and table[0] == ["LOGIN", "KIND", "STATUS", "NAME", "GRANTS"], out
    assert ["doc", "staff", "active", "Doc", "doctor@F1"] in table  # the refused grant left nothing
    assert "nurse.x" not in out
    code, out, _ = shifo("accounts", "list", "--json", **env)
    [doc] = [a for a in json.loads(out) if a["login"] == "doc"]
    assert code == 0 and [(g["role"], g["facility"]) for g in doc["grants"]] == [("doctor", "F1")]


def test_a_wrong_password_is_a_sign_in_error(shifo, world: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    patients = tmp_path / "patients.csv"
    patients.write_text("pinfl,surname,given_name,patronymic,birth_date,sex\n")
    run = shifo("import", "patients", str(patients), "--login", "doc", "--facility", "F1",
                SHIFO_DATABASE_URL=world, SHIFO_IMPORT_PASSWORD=PASSWORD + "-not")
    one_line(run, 1, "error", "cannot sign in as 'doc'", "401")


def test_status_and_routes_print_one_json_document(shifo, world: str) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = shifo("status", "--json", SHIFO_DATABASE_URL=world)
    status = json.loads(out)
    assert code == 0 and status["checks"] == {"database": "ok", "messaging": "ok"}, out
    assert status["modules"] == [MODULES] and "shifo_outbox_pending" in status["measures"]
    code, out, _ = shifo("routes", "--json", SHIFO_DATABASE_URL=world)
    routes = json.loads(out)
    assert code == 0 and {"methods", "path", "permission", "who"} == set(routes[0])
    [cards] = [r for r in routes if r["path"] == "/api/v1/medcard/patients" and r["methods"] == ["POST"]]
    assert cards["permission"].startswith("medcard") and "doctor" in cards["who"]
