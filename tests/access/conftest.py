"""``pg_url``: a fresh PostgreSQL database only, for tests of PostgreSQL's own guarantees (roles,
privileges). Skipped like ``db_url``'s PostgreSQL half: only when PostgreSQL is unreachable
outside CI."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.conftest import PG_DSN, _pg_admin


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
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
