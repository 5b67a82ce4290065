"""Test helpers: build a migrated, seeded deployment and sign in through the public API.

Seeding runs on its own runtime before the app starts, because the app serves from the test
client's event loop and SQLAlchemy's async pools must not cross loops.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from core.clock import utcnow
from host.runtime import Runtime
from host.settings import Settings
from host.tables import facilities, facility_modules
from host.web.app import create_app
from tests import templates

PASSWORD = "correct-horse-battery"
ALL_MODULES = ("medcard", "polyclinic", "hospital", "erecipe")  # the built-in modules


@asynccontextmanager
async def opened(settings: Settings, extra_plugins: dict[str, Any] | None = None) -> AsyncIterator[Runtime]:
    """A runtime with adapters open and migrations applied, without the relay or the app."""
    rt = Runtime.plan(settings, extra_plugins)
    migrated = await templates.prepare(rt)  # a new database starts as a copy of a migrated one
    await rt.open()
    try:
        if not migrated:
            await rt.migrate()
        yield rt
    finally:
        await rt.storage.close()


async def add_facility(rt: Runtime, facility: str, modules: Iterable[str], kind: str = "polyclinic") -> None:
    async with rt.storage.transaction() as tx:
        await tx.execute(facilities.insert().values(id=facility, name=f"Facility {facility}", kind=kind,
                                                    region="Tashkent", created_at=utcnow()))
        for module in modules:
            await tx.execute(facility_modules.insert().values(facility=facility, module=module,
                                                              enabled_at=utcnow()))


async def add_user(rt: Runtime, login: str, *, kind: str = "staff", grants: Iterable[tuple[str, str]] = (),
                   pinfl: str | None = None) -> Any:
    uid = await rt.identity.create_account(login=login, password=PASSWORD, kind=kind,
                                           full_name=login.title(), pinfl=pinfl)
    for facility, role in grants:
        await rt.identity.grant(uid, facility, role, qualification_number=f"Q-{login}",
                                qualification_issuer="Ministry of Health",
                                qualification_date=dt.date(2020, 6, 30),
                                education="Higher pharmaceutical" if role == "pharmacist" else None)
    return uid


async def login(client: AsyncTestClient[Any], user: str) -> dict[str, str]:
    """Sign in through the API; returns the Authorization header."""
    r = await client.post("/api/v1/auth/login", json={"login": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@asynccontextmanager
async def serving(settings: Settings, extra_plugins: dict[str, Any] | None = None
                  ) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(settings, extra_plugins=extra_plugins)
    async with AsyncTestClient(app) as client:
        yield client


@asynccontextmanager
async def racing(settings: Settings, extra_plugins: dict[str, Any] | None = None
                 ) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests really overlap, for concurrency tests: Litestar's AsyncTestClient
    runs each request to the end through a blocking portal, so gathered requests never race."""
    app = create_app(settings, extra_plugins=extra_plugins)
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                 base_url="http://shifo.test") as client:
        yield client
