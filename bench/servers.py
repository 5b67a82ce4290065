"""Start an app under the benchmark's one server command and stop it again.

Both contenders run under exactly ``uvicorn --workers 2 --loop uvloop --http httptools`` (the best
of a trial on 2 cores), with the access log off for both: it would dominate a cheap request.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent


def server_command(app: str, port: int, workers: int) -> list[str]:
    """``app`` is ``module:attribute``, or ``module:function()`` for an app factory."""
    factory = ["--factory"] if app.endswith("()") else []
    return [sys.executable, "-m", "uvicorn", app.removesuffix("()"), *factory, "--app-dir", str(HERE),
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--loop", "uvloop",
            "--http", "httptools", "--no-access-log", "--log-level", "warning"]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


@asynccontextmanager
async def serving(app: str, port: int, env: Mapping[str, str], log: Path, workers: int = 2,
                  ) -> AsyncIterator[tuple[str, int]]:
    """Run ``app`` until the block ends; yields (base URL, uvicorn's pid) once /health answers."""
    url = f"http://127.0.0.1:{port}"
    if _healthy(url):
        raise RuntimeError(f"something already answers on port {port}; choose another with --port")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        proc = await asyncio.create_subprocess_exec(
            *server_command(app, port, workers), cwd=ROOT, env={**os.environ, **env},
            stdout=sink, stderr=sink)
        try:
            deadline = time.monotonic() + 60
            while not await asyncio.to_thread(_healthy, url):
                if proc.returncode is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{app} did not start; see {log}")
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # /health answered from one worker: give the other a moment
            yield url, proc.pid
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)  # uvicorn's supervisor stops its workers
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
