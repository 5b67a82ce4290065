"""A throwaway deployment for a module's tests: migrated, with facilities, clinicians and patients.

    await prepare(settings, facilities={"F1": ("medcard", "immunization")},
                  staff={"nurse": {"F1": ("nurse",)}}, patients={"patient": PINFL})
    async with AsyncTestClient(create_app(settings)) as client:
        headers = await sign_in(client, "nurse")

Seeding runs on a runtime of its own before the app starts (the app serves from the test client's
event loop). Every account's password is :data:`PASSWORD`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from core.clock import utcnow
from core.pinfl import check_digit
from host.runtime import Runtime
from host.settings import Settings
from host.tables import facilities as facility_table
from host.tables import facility_modules

PASSWORD = "module-kit-password-1"  # noqa: S105 (test accounts of a throwaway database)


def pinfl(n: int) -> str:
    """A valid PINFL (check digit and all) for test person ``n``."""
    first13 = f"3010190{n:06d}"
    return first13 + str(check_digit(first13))


async def prepare(settings: Settings, *, facilities: Mapping[str, Iterable[str]],
                  staff: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
                  patients: Mapping[str, str] | None = None,
                  extra_plugins: dict[str, Any] | None = None) -> None:
    """Migrate; add each facility with the modules installed there, each staff login with its roles
    per facility, and each patient login with its PINFL."""
    rt = Runtime.plan(settings, extra_plugins)
    await rt.open()
    try:
        await rt.migrate()
        async with rt.storage.transaction() as tx:
            for facility, installed in facilities.items():
                await tx.execute(facility_table.insert().values(
                    id=facility, name=facility, kind="polyclinic", region="Tashkent", created_at=utcnow()))
                for module in installed:
                    await tx.execute(facility_modules.insert().values(facility=facility, module=module,
                                                                      enabled_at=utcnow()))
        for login, grants in (staff or {}).items():
            uid = await rt.identity.create_account(login=login, password=PASSWORD, kind="staff",
                                                   full_name=login)
            for facility, roles in grants.items():
                for role in roles:
                    await rt.identity.grant(
                        uid, facility, role, qualification_number=f"Q-{login}", qualification_issuer="MoH",
                        qualification_date=dt.date(2020, 6, 30),
                        education="Higher pharmaceutical" if role == "pharmacist" else None)
        for login, number in (patients or {}).items():
            await rt.identity.create_account(login=login, password=PASSWORD, kind="patient",
                                             full_name=login, pinfl=number)
    finally:
        await rt.stop()


async def sign_in(client: Any, login: str) -> dict[str, str]:
    """Sign in through the API; returns the Authorization header."""
    r = await client.post("/api/v1/auth/login", json={"login": login, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
