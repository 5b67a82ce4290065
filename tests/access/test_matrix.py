"""The role x route matrix, generated from the app's own route table: a new route is covered
automatically, and a new permission fails here until the table below says who holds it.

"Allowed" means the guard let the request through: any answer but 401/403 (a dummy id or an
empty body then earns a 404/400/422 from the handler).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from host.pluginapi import Permission
from host.settings import Settings
from tests.access.world import app, bearer, expire_sessions, facilities, set_status_in_db, staff, token
from tests.access.world import settings as make_settings
from tests.support import ALL_MODULES, opened

# Who may do what, as the order reads (stated here, independently of the modules' policy.csv):
# clinical roles only; pharmacists see only what dispensing needs, never the card itself.
POLICY_TABLE = """
permission                     doctor  resident  nurse  pharmacist
medcard.module/read            yes     yes       yes    yes
medcard.patient/register       yes     yes       yes    -
medcard.patient/read           yes     yes       yes    -
medcard.entry/read             yes     yes       yes    -
medcard.indicator/record       yes     yes       yes    -
medcard.diagnosis/record       yes     yes       -      -
medcard.lab/record             yes     yes       -      -
medcard.instrumental/record    yes     yes       -      -
medcard.complaint/record       yes     yes       -      -
medcard.finding/record         yes     yes       -      -
medcard.examination/record     yes     yes       yes    -
medcard.report/read            yes     yes       -      -
medcard.alert/read             yes     yes       yes    -
medcard.alert/acknowledge      yes     yes       -      -
polyclinic.module/read         yes     yes       yes    -
hospital.module/read           yes     yes       yes    -
polyclinic.schedule/manage     yes     yes       -      -
polyclinic.queue/read          yes     yes       yes    -
polyclinic.appointment/book    yes     yes       yes    -
polyclinic.visit/open          yes     yes       -      -
polyclinic.visit/close         yes     yes       -      -
polyclinic.visit/read          yes     yes       yes    -
polyclinic.referral/create     yes     yes       -      -
hospital.ward/manage           yes     yes       -      -
hospital.ward/read             yes     yes       yes    -
hospital.stay/admit            yes     yes       -      -
hospital.stay/transfer         yes     yes       -      -
hospital.stay/discharge        yes     yes       -      -
hospital.stay/read             yes     yes       yes    -
erecipe.module/read            yes     yes       yes    yes
erecipe.prescription/prescribe yes     yes       -      -
erecipe.prescription/read      yes     yes       yes    -
erecipe.dispensing/read        -       -         -      yes
erecipe.dispensing/dispense    -       -         -      yes
erecipe.dispensing/upload_journal -    -         -      yes
erecipe.dispensing/resolve     -       -         -      yes
erecipe.medicines/read         yes     yes       -      yes
erecipe.devsign/use            yes     yes       -      yes
"""
ROLES = POLICY_TABLE.split()[1:5]
POLICY = {cols[0]: {r for r, c in zip(ROLES, cols[1:], strict=True) if c == "yes"}
          for cols in (line.split() for line in POLICY_TABLE.strip().splitlines()[1:])}
# The FHIR facade's own types: the directory (Organization, Practitioner, PractitionerRole) for every
# clinical role, the audit trail (AuditEvent) for doctors; no module needs to be installed for them.
HOST_FHIR = {"fhir.directory/read": set(ROLES), "fhir.audit/read": {"doctor"},
             "fhir.transaction/post": POLICY["medcard.indicator/record"] | POLICY["medcard.diagnosis/record"]}

F1, F2, F3 = "F1", "F2", "F3"  # F3 runs the medical card only
ENDLESS = {"/api/v1/medcard/alerts/stream"}  # streams that take no position, so nothing ends them early
ALLOW = "allow"
# principal -> (its clinical role if any, the facility it asks for)
PRINCIPALS: dict[str, tuple[str | None, str]] = {
    "anonymous": (None, F1), "malformed": (None, F1), "expired": ("doctor", F1), "patient": (None, F1),
    "operator": (None, F1), "registrar": (None, F1), "doctor": ("doctor", F1),
    "resident": ("resident", F1), "nurse": ("nurse", F1), "pharmacist": ("pharmacist", F1),
    "doctor_elsewhere": ("doctor", F1), "doctor_no_module": ("doctor", F3), "suspended": ("doctor", F1),
}


def perm_name(perm: Permission) -> str:
    return f"{perm.object}/{perm.action}"


def expected(who: str, perm: Permission, path: str) -> int | str:
    if who in ("anonymous", "malformed", "expired", "suspended"):
        return 401
    if perm.principal == "patient":
        return ALLOW if who == "patient" else 401  # staff tokens are for another audience
    if who == "patient" and perm.patients:  # FHIR: their own compartment; a dummy id is not theirs
        return 403 if path.endswith("$everything") else ALLOW
    if who == "patient":
        return 401  # a patient-app token never opens a staff or operator route
    if perm.principal == "operator":
        return ALLOW if who == "operator" else 403
    role, facility = PRINCIPALS[who]
    holders = HOST_FHIR.get(perm_name(perm)) or POLICY[perm_name(perm)]
    for also in ALSO.get(path, ()):  # a FHIR type several modules' permissions reach (host.fhir.access)
        holders = holders | HOST_FHIR.get(also, POLICY.get(also, set()))
    if who in ("operator", "registrar", "doctor_elsewhere") or role not in holders:
        return 403
    if facility == F3 and perm_name(perm) not in HOST_FHIR and not perm.object.startswith("medcard."):
        return 403
    return ALLOW


async def seed(settings: Settings) -> dict[str, str]:
    async with opened(settings) as rt:
        await facilities(rt, {F1: ALL_MODULES, F2: ALL_MODULES, F3: ["medcard"]})
        for n, role in enumerate(ROLES, start=1):
            await staff(rt, role, [(F1, role)], n=n)
        await staff(rt, "registrar", [(F1, "registrar")], n=10)
        await staff(rt, "operator", kind="operator", n=11)
        await staff(rt, "patient", kind="patient", n=12)
        await staff(rt, "doctor_elsewhere", [(F2, "doctor")], n=13)
        await staff(rt, "doctor_no_module", [(F3, "doctor")], n=14)
        expired = await staff(rt, "expired", [(F1, "doctor")], n=15)
        suspended = await staff(rt, "suspended", [(F1, "doctor")], n=16)
        tokens = {who: await token(rt, who) for who in PRINCIPALS if who not in ("anonymous", "malformed")}
        await expire_sessions(rt, expired)
        await set_status_in_db(rt, suspended, "suspended")
    tokens["malformed"] = "not-a-token%%"
    return tokens


#: path -> every permission that admits it, where a route says so (FHIR: each provider's)
ALSO: dict[str, set[str]] = {}


def routes(application: Litestar) -> list[tuple[str, str, Permission]]:
    found = []
    for route in application.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        for handler in route.route_handlers:
            perm = handler.opt.get("permission")
            if handler.opt.get("permissions"):
                ALSO[route.path] = set(handler.opt["permissions"].split(" | "))
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                if perm != "public":
                    assert isinstance(perm, Permission), f"{method} {route.path} declares no permission"
                    found.append((method, route.path, perm))
    return found


def concrete(path: str) -> str:
    def value(m: re.Match[str]) -> str:
        kind = m.group(2)
        return {"uuid": str(uuid.uuid4()), "int": "1", "date": "2026-01-01"}.get(kind, "x")
    return re.sub(r"\{(\w+):(\w+)\}", value, path)


async def test_every_route_for_every_principal(db_url: str) -> None:
    settings = make_settings(db_url)
    tokens = await seed(settings)
    application = app(settings)
    table = routes(application)
    unknown = {perm_name(p) for _, _, p in table if p.principal == "staff"} - POLICY.keys() - HOST_FHIR.keys()
    assert not unknown, f"say in POLICY_TABLE who holds {unknown}"
    assert len(table) >= 10 and any(p.principal == "operator" for _, _, p in table)
    wrong: list[str] = []
    async with AsyncTestClient(application) as client:
        for who, (_role, facility) in PRINCIPALS.items():
            # a malformed position makes the endless patient stream answer 400 once the guard let it in
            headers = {"X-Facility": facility, "Last-Event-ID": "not-a-position",
                       **(bearer(tokens[who]) if who in tokens else {})}
            for method, path, perm in table:
                want = expected(who, perm, path)
                if want == ALLOW and path in ENDLESS:
                    continue  # it would never end; tests/medcard/test_alerts.py reads it
                body: dict[str, Any] | None = {} if method in ("POST", "PUT", "PATCH") else None
                r = await client.request(method, concrete(path), headers=headers, json=body)
                got: int | str = r.status_code if r.status_code in (401, 403) else ALLOW
                if got != want:
                    wrong.append(f"{who:17} {method:5} {path}: got {r.status_code}, want {want}")
                if r.status_code in (401, 403):  # FHIR answers in its own error format
                    kind = "application/fhir+json" if path.split("?")[0].rstrip("/") == "/fhir" or path.startswith("/fhir/") else "application/problem+json"
                    assert r.headers["content-type"].startswith(kind), f"{method} {path}"
                if r.status_code == 401:
                    assert r.headers["www-authenticate"].startswith("Bearer")
    assert not wrong, "\n".join(wrong)


async def test_policy_table_matches_what_the_modules_grant(db_url: str) -> None:
    """The modules' policy lines give exactly the table's rights (no role gets more or less)."""
    application = app(make_settings(db_url))
    authorizer = application.state.runtime.authorizer
    for permission, roles in POLICY.items():
        obj, act = permission.split("/")
        assert authorizer.roles_for(obj, act) == roles, permission
