"""Migrated database templates, so that a test's fresh database starts migrated for the price of
a file copy (SQLite) or a ``CREATE DATABASE ... TEMPLATE`` (PostgreSQL) instead of an Alembic run.

Migrations depend only on the migration locations (the host's, the identity adapter's and the
enabled modules'), so a template is made once per set of locations and per backend, the first time
a test needs one, by the real ``Runtime.migrate``. Only a database this session has never filled
is replaced; a test that opens its database a second time keeps what it wrote. The migration
tests themselves (tests/host/test_migrations.py) still run Alembic from an empty database.
``SHIFO_TEST_TEMPLATES=0`` turns templates off (every test migrates), to compare or to suspect them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

#: (backend, locations) -> a migrated SQLite file or the name of a migrated PostgreSQL database
_made: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
_filled: set[str] = set()  # database URLs this session has already given a template to
_dir = Path(tempfile.mkdtemp(prefix="shifo-templates-"))
atexit.register(shutil.rmtree, _dir, True)


async def prepare(rt: Any) -> bool:
    """Fill ``rt``'s database from a template if it is new and empty; True if it now is migrated.
    Call before ``rt.open()`` (PostgreSQL's database is dropped and made again from the template)."""
    url_text = rt.settings.database_url
    if url_text in _filled or os.environ.get("SHIFO_TEST_TEMPLATES") == "0":
        return False
    _filled.add(url_text)
    url = make_url(url_text)
    # the locations: the host's (fixed), the identity adapter's (by its name) and the modules'
    key = (url.get_backend_name(), (("identity", rt.settings.identity_adapter),
                                    *sorted(rt.modules.migrations().items())))
    if url.get_backend_name() == "sqlite":
        target = Path(url.database or "")
        if not url.database or target.exists():  # noqa: ASYNC240 (a test helper: a local stat)
            return False
        if key not in _made:
            _made[key] = await _migrate_into(rt, url.set(database=str(_dir / f"{uuid.uuid4().hex}.db")))
        shutil.copyfile(make_url(_made[key]).database or "", target)
        return True
    if url.get_backend_name() == "postgresql":
        admin_dsn = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        admin = await asyncpg.connect(admin_dsn)
        try:
            if await admin.fetchval(f"SELECT count(*) FROM pg_database WHERE datname = '{url.database}'") != 1:
                return False
            probe = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
            try:
                if await probe.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"):
                    return False
            finally:
                await probe.close()
            if key not in _made:
                name = f"shifo_tpl_{uuid.uuid4().hex[:12]}"
                await admin.execute(f'CREATE DATABASE "{name}"')
                _made[key] = await _migrate_into(rt, url.set(database=name))
                atexit.register(_drop_later, admin_dsn, name)
            template = make_url(_made[key]).database
            await admin.execute(f'DROP DATABASE "{url.database}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{url.database}" TEMPLATE "{template}"')
            return True
        finally:
            await admin.close()
    return False


async def _migrate_into(rt: Any, url: Any) -> str:
    from host.runtime import Runtime

    text = url.render_as_string(hide_password=False)
    maker = Runtime(type(rt.settings)(**{**_fields(rt.settings), "database_url": text}), rt.modules)
    await maker.open()
    try:
        await maker.migrate()
    finally:
        await maker.storage.close()
    return text


def _fields(settings: Any) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__struct_fields__}


def _drop_later(admin_dsn: str, name: str) -> None:
    import asyncio

    async def drop() -> None:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    try:
        asyncio.run(drop())
    except Exception:  # the server may be gone at exit; a leftover template is harmless
        pass
