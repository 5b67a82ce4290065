"""Test kits are for tests: serving the app or running ``shifo`` imports neither a kit nor pytest,
so pytest stays a test dependency only (``pip install shifo`` does not bring it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

KITS = ("host.testing", "ports.kits.signature")
TEST_ONLY = ("pytest", "_pytest", "pytest_asyncio", "hypothesis", "schemathesis")

PROBE = """
import sys
from host.settings import Settings
{work}
kits = sorted(n for n in sys.modules if n.startswith({kits!r}) or n.split(".")[0] in {test_only!r})
print("IMPORTED:" + ",".join(kits))
"""

WORK = {
    # the app as `shifo serve` builds it, every built-in module loaded and mounted
    "app": "from host.web.app import create_app\ncreate_app(Settings(database_url='sqlite+aiosqlite:///:memory:'))",
    # the command line: its parser, with every module's commands
    "cli": "from host import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass",
}


@pytest.mark.parametrize("entry", sorted(WORK))
def test_the_runtime_imports_no_test_kit_and_no_pytest(entry: str, tmp_path: Path) -> None:
    code = PROBE.format(work=WORK[entry], kits=KITS, test_only=TEST_ONLY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = done.stdout.rsplit("IMPORTED:", 1)[1].strip()
    assert imported == "", f"{entry} imported {imported}"


def test_the_probe_would_see_a_kit() -> None:
    """The check above can fail: importing the kit shows up in ``sys.modules`` exactly so."""
    code = PROBE.format(work="import host.testing.module_kit", kits=KITS, test_only=TEST_ONLY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "host.testing.module_kit" in done.stdout and "pytest" in done.stdout, done.stdout + done.stderr
