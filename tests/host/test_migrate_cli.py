"""``shifo migrate current | history | downgrade MODULE``, run in process (``host.cli.main``) on both
databases: one migrated deployment of every module serves the whole story."""

from __future__ import annotations

import asyncio
import os

import pytest
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from host import cli
from tests.host.test_cli import rows
from tests.support import ALL_MODULES

Run = tuple[int, str, str]


async def tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_migrate_current_history_and_downgrade_of_a_module(
        db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in [n for n in os.environ if n.startswith("SHIFO_")]:
        monkeypatch.delenv(name)
    env = {"SHIFO_DATABASE_URL": db_url, "SHIFO_MODULES": ",".join(ALL_MODULES), "SHIFO_RUN_RELAY": "0"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    async def shifo(*args: str) -> Run:
        code = await asyncio.to_thread(cli.main, list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    async def current() -> dict[str, list[str]]:
        code, out, err = await shifo("migrate", "current")
        assert code == 0, err
        header, *lines = rows(out)
        assert header == ["BRANCH", "APPLIED", "HEAD", "STATE"]
        return {line[0]: line[1:] for line in lines}

    assert (await shifo("migrate"))[0] == 0
    at_head = await current()
    assert set(at_head) == {"host", "identity", *ALL_MODULES}
    assert all(applied == head and state == "at head" for applied, head, state in at_head.values()), at_head

    code, out, _ = await shifo("migrate", "history")
    history = rows(out)[1:]
    assert code == 0 and all(line[2] == "yes" for line in history)
    host = [line[1] for line in history if line[0] == "host"]
    assert host[:3] == ["h0001", "h0002", "h0003"] and host[-1] == at_head["host"][1]
    erecipe = [line[1] for line in history if line[0] == "erecipe"]
    assert erecipe[0] == "e0001" and erecipe == sorted(erecipe) and erecipe[-1] == at_head["erecipe"][1]
    assert all(line[3] for line in history)  # each revision says what it does

    before = await tables(db_url)
    for args, said in ((("medcard", "--yes"), "polyclinic, hospital, erecipe"),
                       (("host", "--yes"), "never downgraded"),
                       (("erecipe",), "--yes")):  # not a terminal: nobody to ask
        code, out, err = await shifo("migrate", "downgrade", *args)
        assert code == 1 and err.startswith("shifo: error: ") and err.count("\n") == 1, err
        assert said in err and "Traceback" not in err, err
    assert await tables(db_url) == before and await current() == at_head  # refused: nothing changed

    code, out, err = await shifo("migrate", "downgrade", "erecipe", "--yes")
    assert code == 0 and "downgraded erecipe" in out, err
    dropped = {t for t in before if t.startswith("erecipe_")}
    assert dropped and await tables(db_url) == before - dropped
    now = await current()
    assert now["erecipe"] == ["-", at_head["erecipe"][1], "not applied"]
    assert {k: v for k, v in now.items() if k != "erecipe"} == {k: v for k, v in at_head.items() if k != "erecipe"}
    code, out, _ = await shifo("migrate", "history")
    assert {line[2] for line in rows(out)[1:] if line[0] == "erecipe"} == {"no"}

    assert (await shifo("migrate"))[0] == 0
    assert await tables(db_url) == before and await current() == at_head
