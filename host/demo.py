"""The demo seed: three facilities and one account per kind of user, enough to try every module.

Idempotent: facilities and module installations are added when missing; an account that already
signs in with the password in the accounts file is kept (an existing one that does not is
reported, never overwritten). Passwords are random per seed, printed
only by the run that creates them, and written (mode 0600) to the accounts file, which lives
under ``var/`` and is never committed. A module is installed at the demo facilities of the kinds
its ``shifo_demo_data`` hook names; its demo data (``host.demo_data``) registers the patient
account's person in the medical card.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path

import msgspec
from sqlalchemy import select

from core.clock import utcnow
from core.errors import Unauthenticated
from core.pinfl import check_digit
from core.principals import CLINICAL_ROLES
from host.runtime import Runtime
from host.tables import facilities, facility_modules
from ports.identity import Identity, Throttled

ACCOUNTS_FILE = "var/demo-accounts.json"


class Facility(msgspec.Struct, frozen=True):
    id: str
    name: str
    kind: str  # polyclinic | hospital | pharmacy: the modules say which kinds install them
    tin: str


class Account(msgspec.Struct, frozen=True, kw_only=True):
    login: str
    kind: str
    full_name: str
    role: str | None = None
    facility: str | None = None
    pinfl: str | None = None
    issuer: str = ""  # who issued the qualification behind a clinical grant
    education: str | None = None  # a pharmacist's pharmaceutical education


def pinfl(first13: str) -> str:
    return first13 + str(check_digit(first13))


PATIENT_PINFL = pinfl("3150385026012")  # the patient account; born 1985-03-15, male
#: the patient account's person, as the modules' demo data register it
PATIENT = {"pinfl": PATIENT_PINFL, "surname": "Yusupov", "given_name": "Bekzod", "patronymic": "Olimovich",
           "birth_date": "1985-03-15", "sex": "male"}
# Everyone has a PINFL (EDS certificates carry it); the ones below encode each person's birth date.

FACILITIES = (
    Facility("poly-01", "Tashkent City Polyclinic No. 1", "polyclinic", "201234567"),
    Facility("hosp-01", "Republican Clinical Hospital No. 1", "hospital", "202345678"),
    Facility("pharm-01", "Pharmacy No. 12", "pharmacy", "203456789"),
)

ACCOUNTS = (
    Account(login="doctor", kind="staff", full_name="Aliyev Rustam Karimovich", role="doctor",
            facility="poly-01", issuer="Tashkent Medical Academy", pinfl=pinfl("3120580026045")),
    Account(login="resident", kind="staff", full_name="Karimova Dilnoza Akmalovna", role="resident",
            facility="hosp-01", issuer="Tashkent Medical Academy", pinfl=pinfl("4030996026051")),
    Account(login="nurse", kind="staff", full_name="Tursunova Malika Shavkatovna", role="nurse",
            facility="hosp-01", issuer="Tashkent Republican Medical College", pinfl=pinfl("4170290026062")),
    Account(login="pharmacist", kind="staff", full_name="Rahimov Jasur Bahodirovich", role="pharmacist",
            facility="pharm-01", issuer="Tashkent Pharmaceutical Institute", pinfl=pinfl("3251188026073"),
            education="Higher pharmaceutical (Tashkent Pharmaceutical Institute, 2014)"),
    Account(login="operator", kind="operator", full_name="Single Integrator Operator",
            pinfl=pinfl("3080875026084")),
    # staff without any clinical grant: signs in, and every module refuses them
    Account(login="registrar", kind="staff", full_name="Nazarova Gulnora Rustamovna", role="registrar",
            facility="poly-01", pinfl=pinfl("4110685026095")),
    Account(login="patient", kind="patient", full_name="Yusupov Bekzod Olimovich",
            pinfl=PATIENT_PINFL),
)


class Seeded(msgspec.Struct, kw_only=True):
    account: Account
    password: str | None  # None: the account exists but its password is not in the accounts file
    created: bool


class Report(msgspec.Struct, kw_only=True):
    facilities_added: list[str]
    accounts: list[Seeded]
    accounts_file: str


async def seed(rt: Runtime, accounts_file: str | Path = ACCOUNTS_FILE) -> Report:
    """Add what is missing; keep what is there. ``rt`` must be open and migrated."""
    path = Path(accounts_file)
    added = await _facilities(rt)
    known = _read(path)
    existing = {a.login for a in await rt.identity.accounts()}
    seeded = []
    for account in ACCOUNTS:
        if account.login in existing:
            password = known.get(account.login)
            kept = password is not None and await _signs_in(rt.identity, account.login, password)
            seeded.append(Seeded(account=account, password=password if kept else None, created=False))
        else:
            seeded.append(await _create(rt, account))
    _write(path, [s for s in seeded if s.password is not None])
    return Report(facilities_added=added, accounts=seeded, accounts_file=str(path))


async def _facilities(rt: Runtime) -> list[str]:
    """The demo facilities, each with the enabled modules that name its kind (``shifo_demo_data``)."""
    kinds = {info.name: data.facility_kinds for info, data in rt.modules.demo_data()}
    added = []
    async with rt.storage.transaction() as tx:
        for f in FACILITIES:
            if (await tx.execute(select(facilities.c.id).where(facilities.c.id == f.id))).first() is None:
                await tx.execute(facilities.insert().values(
                    id=f.id, name=f.name, kind=f.kind, region="Tashkent", tin=f.tin, created_at=utcnow()))
                added.append(f.id)
            have = {r.module for r in await tx.execute(
                select(facility_modules.c.module).where(facility_modules.c.facility == f.id))}
            for module in rt.modules.names:
                if f.kind in kinds.get(module, ()) and module not in have:
                    await tx.execute(facility_modules.insert().values(
                        facility=f.id, module=module, enabled_at=utcnow()))
    return added


async def _signs_in(identity: Identity, login: str, password: str) -> bool:
    try:
        session = await identity.login(login, password, "shifo-demo")
    except (Unauthenticated, Throttled):
        return False
    await identity.logout(session.access_token)
    return True


async def _create(rt: Runtime, a: Account) -> Seeded:
    """The account and its grant in one transaction: a failed seed leaves no half-made user."""
    password = secrets.token_urlsafe(12)
    async with rt.storage.transaction() as tx:
        uid = await rt.identity.create_account(login=a.login, password=password, kind=a.kind,
                                               full_name=a.full_name, pinfl=a.pinfl, tx=tx)
        if a.role in CLINICAL_ROLES and a.facility:
            await rt.identity.grant(
                uid, a.facility, a.role, qualification_number=f"UZ-{a.role.upper()}-2021-0042",
                qualification_issuer=a.issuer, qualification_date=dt.date(2021, 6, 30),
                education=a.education, tx=tx)
    return Seeded(account=a, password=password, created=True)


def _read(path: Path) -> dict[str, str]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {e["login"]: e["password"] for e in entries if e.get("password")}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _write(path: Path, seeded: list[Seeded]) -> None:
    entries = [{"login": s.account.login, "password": s.password, "kind": s.account.kind,
                "role": s.account.role, "facility": s.account.facility} for s in seeded]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(entries, out, indent=2)
        out.write("\n")
    os.replace(tmp, path)


HEADERS = ("login", "kind", "role", "facility", "password")


def rows(report: Report) -> list[tuple[str, ...]]:
    """The accounts table ``shifo demo`` prints; passwords only in the run that created them."""
    out: list[tuple[str, ...]] = []
    for s in report.accounts:
        a = s.account
        shown = (s.password if s.created and s.password else "(unchanged, in the accounts file)"
                 if s.password else "(unknown: delete the database and the accounts file to reseed)")
        role = a.role if a.role in CLINICAL_ROLES else f"{a.role} (no grant)" if a.role else "-"
        out.append((a.login, a.kind, role, a.facility or "-", shown))
    return out


def howto(report: Report, base_url: str = "http://127.0.0.1:8000") -> str:
    """How to sign in: printed by ``shifo demo`` (and so by ``make run``)."""
    added = f"; added now: {', '.join(report.facilities_added)}" if report.facilities_added else ""
    doctor = next(s for s in report.accounts if s.account.login == "doctor")
    password = doctor.password if doctor.created else "<doctor's password from the accounts file>"
    return "\n".join([
        f"Facilities: {', '.join(f'{f.id} ({f.kind})' for f in FACILITIES)}{added}.",
        f"Passwords are in {report.accounts_file} (never commit it).",
        f"Sign in and call a module (API docs: {base_url}/schema):", "",
        f"  TOKEN=$(curl -s -X POST {base_url}/api/v1/auth/login -H 'Content-Type: application/json' \\",
        f"    -d '{{\"login\": \"doctor\", \"password\": \"{password}\"}}' \\",
        "    | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
        f"  curl -s {base_url}/api/v1/medcard/ -H \"Authorization: Bearer $TOKEN\" -H 'X-Facility: poly-01'",
    ])
