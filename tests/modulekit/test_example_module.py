"""The example external module (examples/shifo-immunization) is added by a pip package alone.

It is pip-installed, as an operator would, into a directory of its own (the project's venv stays
as ``pip install shifo`` left it, so the default modules do not change for the rest of the suite):
then ``SHIFO_MODULES=medcard,immunization`` finds it, its own tests (the contract kit among them)
pass against this checkout, and ``shifo demo`` records its part. Loaded from source, its doses
reach the patient's live stream on both databases.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from host.settings import Settings
from host.web.app import create_app
from tests.patient.sse import StreamingTransport, take
from tests.patient.test_stream import stream
from tests.support import add_facility, add_user, login, opened

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shifo-immunization"
BIN = Path(sys.executable).parent
FAST = '{"identity": {"hashing": {"time_cost": 1, "memory_cost": 8192, "parallelism": 1}}}'


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``pip install`` of a copy of the example (a build in the source tree would leave files)."""
    root = tmp_path_factory.mktemp("immunization")
    source, target = root / "src", root / "site"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--no-deps", "--target", str(target), str(source)], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target), "SHIFO_MODULES": "medcard,immunization",
           "SHIFO_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'demo.db'}", "SHIFO_EXTRA": FAST,
           "SHIFO_AUDIT_KEY_FILE": str(root / "audit.key"), "SHIFO_SIGNATURE_DEV_KEYS_DIR": str(root / "keys")}
    return {"root": root, "source": source, "env": env}


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_only_the_pip_package_adds_the_module(installed: dict[str, Any]) -> None:
    env, root = installed["env"], installed["root"]
    listed = run([str(BIN / "shifo"), "plugins"], env, root)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^immunization\s+yes\s+0\.1\.0\s+medcard\s+shifo_immunization\.plugin", listed.stdout, re.M)
    bare = run([str(BIN / "shifo"), "plugins"], {**env, "PYTHONPATH": ""}, root)
    assert bare.returncode == 2 and "immunization" in bare.stderr  # without the package: unknown module


def test_the_example_passes_its_own_tests_and_the_contract_kit(installed: dict[str, Any]) -> None:
    tests = run([str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "-rs", "tests"],
                installed["env"], installed["source"])
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", tests.stdout).group(1))  # type: ignore[union-attr]
    assert passed >= 11 and "skipped" not in tests.stdout, tests.stdout[-2000:]


def test_shifo_demo_records_the_modules_part(installed: dict[str, Any]) -> None:
    env, root = installed["env"], installed["root"]
    first = run([str(BIN / "shifo"), "demo", "--accounts-file", str(root / "accounts.json")], env, root)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "5 vaccine doses" in first.stdout, first.stdout[-2000:]
    again = run([str(BIN / "shifo"), "demo", "--accounts-file", str(root / "accounts.json")], env, root)
    assert again.returncode == 0 and "vaccine doses" not in again.stdout, again.stdout[-2000:]
    report = run([str(BIN / "shifo"), "immunization", "coverage", "--facility", "poly-01"], env, root)
    assert report.returncode == 0, report.stderr
    assert re.search(r"^poly-01\s+PENTA\s+2\s+1$", report.stdout, re.M), report.stdout  # 2 doses, 1 patient


def _from_source() -> Any:
    if str(EXAMPLE / "src") not in sys.path:
        sys.path.insert(0, str(EXAMPLE / "src"))
    from shifo_immunization import plugin

    return plugin


async def test_a_dose_reaches_the_patients_live_stream(db_url: str, tmp_path: Path) -> None:
    plugins = {"immunization": _from_source()}
    settings = Settings(database_url=db_url, modules=("medcard", "immunization"), relay_poll_seconds=0.1,
                        signature_dev_keys_dir=str(tmp_path / "keys"), extra=json.loads(FAST))
    pinfl = "30211975910033"
    async with opened(settings, plugins) as rt:
        await add_facility(rt, "F1", ["medcard", "immunization"])
        await add_user(rt, "nurse", grants=[("F1", "nurse")])
        await add_user(rt, "doctor", grants=[("F1", "doctor")])
        await add_user(rt, "me", kind="patient", pinfl=pinfl)
    app = create_app(settings, extra_plugins=plugins)
    async with app.lifespan(), httpx.AsyncClient(transport=StreamingTransport(app),
                                                 base_url="http://shifo.test") as client:
        doctor, nurse, me = [await login(client, who) for who in ("doctor", "nurse", "me")]  # type: ignore[arg-type]
        r = await client.post("/api/v1/medcard/patients", headers=doctor, json={
            "pinfl": pinfl, "surname": "Usmonov", "given_name": "Salim", "birth_date": "1997-11-02",
            "sex": "male"})
        assert r.status_code == 201, r.text
        async with stream(client, me) as events:
            r = await client.post(f"/api/v1/immunization/patients/{r.json()['id']}/doses", headers=nurse,
                                  json={"vaccine": "MMR", "dose_number": 1, "given_on": "1998-11-02",
                                        "lot": "MMR-98"})
            assert r.status_code == 201, r.text
            got = await take(events, 1)
    shown = [m for m in got if '"immunization.dose_recorded"' in m.get("data", "")]
    assert shown, got
    view = json.loads(shown[0]["data"])
    assert view["kind"] == "immunization" and view["status"] == "given" and view["vaccine"] == "MMR"
    assert view["lot"] == "MMR-98" and "author" not in view  # the nurse's id stays inside
