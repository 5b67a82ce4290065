"""Every line a server writes on stderr is one JSON object, commands print no library noise, and an
error raised in a middleware still carries the request's id (issue #24)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from litestar import Litestar, get
from litestar.testing import AsyncTestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from host import cli
from host.operator import logs
from host.operator import metrics as operator_metrics
from host.web import problems
from host.web.params import param_guard


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """``logs.configure`` rewires the root logger and warnings for the process: undo it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logs.CHATTY}
    with warnings.catch_warnings():
        yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    for name, was in levels.items():
        logging.getLogger(name).setLevel(was)


async def _boom(scope: Scope, receive: Receive, send: Send) -> None:
    """An ASGI app that starts and stops cleanly and fails every request: uvicorn logs the error."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    raise RuntimeError("the application failed")


async def _serve_once(options: dict[str, Any]) -> None:
    server = uvicorn.Server(uvicorn.Config(_boom, **{**options, "port": 0}))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"http://127.0.0.1:{port}/")).status_code == 500
    server.should_exit = True
    await task


def test_serve_writes_one_json_object_per_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                               tmp_path: Any, logging_restored: None) -> None:
    """``shifo serve`` as the operator runs it, up to uvicorn, whose options then serve an app that
    fails: its start-up, error and shutdown lines are JSON like ours, and casbin says nothing."""
    monkeypatch.setenv("SHIFO_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/serve.db")
    ran: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.update(options))
    monkeypatch.setattr("host.web.app.freeze_heap", lambda: None)  # not in a test process
    assert cli.main(["serve", "--port", "0"]) == 0
    asyncio.run(_serve_once(ran))
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]  # each line is one JSON object
    loggers = {r["logger"] for r in records}
    assert any(r["logger"] == "uvicorn.error" and "Exception in ASGI application" in r["message"]
               and "the application failed" in r["exception"] for r in records), lines
    assert any("Started server process" in r["message"] for r in records)
    assert not {n for n in loggers if n.split(".")[0] in ("casbin", "alembic")}, loggers
    assert not any("color_message" in r for r in records)  # uvicorn's copy with terminal colours


def test_commands_print_no_dsa_warning_but_other_warnings() -> None:
    """pyhanko's import-time DSA deprecation is filtered by exactly its category and module."""
    code = ("import warnings, host.cli as c; c.main(['--version']); "
            "import pyhanko.sign.signers.pdf_cms; warnings.warn('still shown', UserWarning)")
    # A fresh interpreter: pyhanko warns only on its first import.
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert "DSA" not in done.stderr and "CryptographyDeprecationWarning" not in done.stderr
    assert "still shown" in done.stderr
    assert done.stdout.startswith("shifo ")


def test_casbin_and_alembic_start_at_warning(logging_restored: None) -> None:
    cli.main(["--version"])
    for name in ("casbin", "casbin.policy", "alembic", "alembic.runtime.plugins"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name


# --- an error raised in a middleware after the one that gives the request its id ---------------

def _failing(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("query_string") == b"fail":
            raise RuntimeError("a middleware broke")
        await app(scope, receive, send)
    return middleware


@get("/ping", sync_to_thread=False)
def ping() -> str:
    return "pong"


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """The shifo loggers' output, formatted as ``shifo serve`` formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    shifo = logging.getLogger("shifo")
    shifo.addHandler(handler)
    level, shifo.level = shifo.level, logging.INFO
    yield stream
    shifo.removeHandler(handler)
    shifo.setLevel(level)


async def test_a_middleware_error_carries_the_request_id(lines: io.StringIO) -> None:
    app = Litestar([ping], middleware=[operator_metrics.middleware, param_guard, _failing],
                   exception_handlers=problems.HANDLERS, logging_config=None)
    async with AsyncTestClient(app) as client:
        broke = await client.get("/ping?fail", headers={"X-Request-Id": "req-broke-1"})
        bad = await client.get("/ping?q=%00")  # the host's own guard refuses it
    assert broke.status_code == 500 and broke.headers["content-type"].startswith(problems.MEDIA_TYPE)
    assert broke.headers["x-request-id"] == broke.json()["request_id"] == "req-broke-1"
    assert bad.status_code == 400 and bad.headers["x-request-id"] == bad.json()["request_id"]
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    error = next(r for r in records if r["logger"] == "shifo.web")
    assert error["request_id"] == "req-broke-1" and "a middleware broke" in error["exception"]
    access = {r["request_id"]: r["status"] for r in records if r["logger"] == "shifo.access"}
    assert access == {"req-broke-1": 500, bad.headers["x-request-id"]: 400}
