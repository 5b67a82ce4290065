"""``shifo import medicines FILE``: erecipe's ``import-medicines`` command, which the host also
answers beside its staff and patient imports (run in process, on both databases)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from host import cli
from plugins.erecipe.medicines_import import DEMO_FILE
from tests.support import ALL_MODULES


async def test_import_medicines_from_the_host_import_command(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in [n for n in os.environ if n.startswith("SHIFO_")]:
        monkeypatch.delenv(name)
    for name, value in {"SHIFO_DATABASE_URL": db_url, "SHIFO_MODULES": ",".join(ALL_MODULES),
                        "SHIFO_RUN_RELAY": "0"}.items():
        monkeypatch.setenv(name, value)

    async def shifo(*args: str) -> tuple[int, str]:
        code = await asyncio.to_thread(cli.main, list(args))
        out = capsys.readouterr()
        return code, out.out + out.err

    assert (await shifo("migrate"))[0] == 0
    code, out = await shifo("import", "medicines", str(DEMO_FILE))
    assert code == 0 and ", 0 rejected" in out and " 0 new" not in out, out
    code, out = await shifo("erecipe", "import-medicines", str(DEMO_FILE))  # the same command
    assert code == 0 and " 0 new, 0 changed" in out, out
    bad = tmp_path / "bad.csv"
    bad.write_bytes(DEMO_FILE.read_bytes().replace(b",J01CA04,", b",J01,", 1))
    code, out = await shifo("import", "medicines", str(bad), "--rejects", str(tmp_path / "out.csv"))
    assert code == 4 and "line 2:" in out and "ATC" in out.split("line 2:")[1].splitlines()[0], out
    assert "J01" in (tmp_path / "out.csv").read_text().splitlines()[1]
