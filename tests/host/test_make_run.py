"""``make run`` end to end: its steps, and a real server started the way it starts one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def test_make_run_and_test_list_their_steps() -> None:
    env = {**os.environ, "PORT": "8765"}
    run = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, env=env,
                         timeout=30, check=True).stdout
    steps = [run.index(f"shifo {step}") for step in ("migrate", "demo", "serve")]
    assert steps == sorted(steps)
    assert "--port 8765" in run
    test = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=30, check=True).stdout
    for tool in ("lint-imports", "ruff check .", "mypy", "pytest"):
        assert tool in test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_serves_health_and_api_docs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIFO_")}
    env["SHIFO_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'shifo.db'}"
    shifo = [sys.executable, "-m", "host.cli"]
    for step in ("migrate", "demo"):
        subprocess.run([*shifo, step], cwd=tmp_path, env=env, capture_output=True, timeout=120, check=True)
    port = free_port()
    server = subprocess.Popen([*shifo, "serve", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start within 30 s"
                time.sleep(0.1)
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = httpx.get(f"{base}/ready", timeout=5)
        assert ready.status_code == 200 and ready.json()["checks"]["database"]["status"] == "ok"
        docs = httpx.get(f"{base}/schema", timeout=5)
        assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
        spec = httpx.get(f"{base}/schema/openapi.json", timeout=5)
        assert spec.status_code == 200
        assert "/api/v1/auth/login" in json.loads(spec.content)["paths"]
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    log = server.stderr.read().decode() if server.stderr else ""
    assert "Application shutdown complete" in log  # SIGTERM shut the app down cleanly
