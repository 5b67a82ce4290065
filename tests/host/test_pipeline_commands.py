"""``shifo relay`` and ``shifo consume`` as an operator runs them: separate processes that run
until SIGTERM and stop cleanly; ``consume`` refuses a non-durable adapter; a broker that cannot
be reached is one line on stderr, not a traceback; ``shifo status`` shows the adapters and the
consumer groups."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from core.events import PatientRegistered
from host.cli import main
from host.settings import Settings
from host.web.app import create_app
from tests.support import opened


def started(cwd: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHIFO_")}
    return subprocess.Popen([sys.executable, "-m", "host.cli", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**clean, **env})


async def running(proc: subprocess.Popen[str], what: str) -> None:
    """Wait for the command's "running" line (its pipeline has started)."""
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
    assert f"{what} running" in line, (line, proc.stderr.read() if proc.poll() is not None else "")


async def stopped(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.to_thread(proc.communicate, timeout=30)
    return proc.returncode, out, err


async def test_consume_needs_a_durable_adapter_and_a_broker_in_reach(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SHIFO_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}")
    monkeypatch.setenv("SHIFO_MODULES", "")
    assert await asyncio.to_thread(main, ["consume"]) == 2
    assert "not durable" in capsys.readouterr().err
    monkeypatch.setenv("SHIFO_MESSAGING_ADAPTER", "nats")
    monkeypatch.setenv("SHIFO_NATS_URL", "nats://127.0.0.1:1")
    monkeypatch.setenv("SHIFO_NATS_CONNECT_TIMEOUT_SECONDS", "0.3")
    for command in (["consume"], ["serve", "--port", "1"]):  # serve: before it binds its port
        assert await asyncio.to_thread(main, command) == 1
        err = capsys.readouterr().err
        assert "shifo: error: message bus" in err and "Traceback" not in err


async def test_relay_delivers_until_sigterm_then_stops_cleanly(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}"
    async with opened(Settings(database_url=url, modules=(), run_relay=False)) as rt:
        async with rt.storage.transaction() as tx:
            await tx.publish(PatientRegistered(patient="30101901234569", patient_id=uuid.uuid4(),
                                               surname="S", given_name="G"))
        relay = started(tmp_path, "relay", SHIFO_DATABASE_URL=url, SHIFO_MODULES="")
        try:
            await running(relay, "relay")
            async with asyncio.timeout(20):
                while (await rt.storage.outbox.lag())[0]:
                    await asyncio.sleep(0.05)
        finally:
            code, out, err = await stopped(relay)
    assert code == 0 and "relay stopped" in out, err


@pytest.mark.nats
@pytest.mark.postgres
@pytest.mark.parametrize(("grouping", "group"), [("shared", ("modules", "all")),
                                                 ("consumer", ("medcard.alerts", "medcard"))])
async def test_consume_runs_the_module_consumers_and_status_shows_their_groups(
        pg_url: str, nats_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], grouping: str, group: tuple[str, str]) -> None:
    env = {"SHIFO_DATABASE_URL": pg_url, "SHIFO_MESSAGING_ADAPTER": "nats",
           "SHIFO_NATS_URL": nats_server.url, "SHIFO_NATS_PREFIX": f"cli{uuid.uuid4().hex[:8]}",
           "SHIFO_NATS_ACK_WAIT_SECONDS": "1", "SHIFO_CONSUMER_GROUPS": grouping}
    async with opened(Settings.from_env(env)):  # migrated
        pass
    consume = started(tmp_path, "consume", **env)
    try:
        await running(consume, "consumers")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert await asyncio.to_thread(main, ["status"]) == 0
    finally:
        code, out, err = await stopped(consume)
    assert code == 0 and "consumers stopped" in out, err
    status = capsys.readouterr().out
    assert "messaging nats (durable)" in status
    assert f"{group[0]} " in status and "stream: name " in status
    quiet = Settings.from_env(env).with_(run_relay=False, run_consumers=False)
    async with AsyncTestClient(create_app(quiet)) as client:  # the groups consume made are scraped
        body = (await client.get("/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(body)}
    assert families["shifo_adapters_info"].samples[0].labels["messaging"] == "nats"
    assert families["shifo_messaging_up"].samples[0].value == 1
    assert "shifo_messaging_stream_messages" in families
    groups = {(s.labels["group"], s.labels["module"]) for s in families["shifo_messaging_group_pending"].samples}
    assert group in groups
    assert {s.name for s in families["shifo_messaging_group_redelivered"].samples}
