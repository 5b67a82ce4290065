"""The FHIR tests' world: the fake modules, three facilities, staff, two patients, helpers."""

from __future__ import annotations

from typing import Any

from fhir.resources.bundle import Bundle
from fhir.resources.operationoutcome import OperationOutcome

from host.settings import Settings
from tests.access.world import pinfl, staff
from tests.fhir.fake import IDS, PA, PB, plugins
from tests.support import add_facility, login, opened

FHIR_JSON = "application/fhir+json"
UA, UB = str(IDS[PA]), str(IDS[PB])
#: login -> (facility, role); F1 runs both fake modules, F2 only probe2, F3 none.
STAFF = {"doctor": ("F1", "doctor"), "nurse": ("F1", "nurse"), "pharmacist": ("F1", "pharmacist"),
         "registrar": ("F1", "registrar"), "doctor2": ("F2", "doctor"), "nurse2": ("F2", "nurse")}


def settings_for(db_url: str, **changes: Any) -> Settings:
    return Settings(database_url=db_url, run_relay=False, modules=("probe", "probe2"), **changes)


async def seed(settings: Settings) -> None:
    async with opened(settings, plugins()) as rt:
        await add_facility(rt, "F1", ["probe", "probe2"])
        await add_facility(rt, "F2", ["probe2"], kind="hospital")
        await add_facility(rt, "F3", [])
        for n, (who, grant) in enumerate(STAFF.items(), start=1):
            await staff(rt, who, [grant], n=n)
        await staff(rt, "operator", kind="operator", n=20)
        await rt.identity.create_account(login="patient_a", password="correct-horse-battery", kind="patient",
                                         full_name="Patient A", pinfl=PA)
        await rt.identity.create_account(login="patient_b", password="correct-horse-battery", kind="patient",
                                         full_name="Patient B", pinfl=PB)


async def auth(client: Any, who: str, facility: str | None = None) -> dict[str, str]:
    headers = await login(client, who)
    if who in STAFF:
        headers["X-Facility"] = facility or STAFF[who][0]
    return headers


def bundle(r: Any) -> dict[str, Any]:
    """A 200 searchset, checked as FHIR R5."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = r.json()
    Bundle.model_validate(body)
    assert body["type"] == "searchset"
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in body.get("entry", [])]


def outcome(r: Any, status: int) -> dict[str, Any]:
    """An error answer: an OperationOutcome with this status."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(FHIR_JSON), r.headers
    body: dict[str, Any] = r.json()
    OperationOutcome.model_validate(body)
    assert body["issue"][0]["severity"] == "error" and body["issue"][0]["diagnostics"]
    return body


__all__ = ["PA", "PB", "UA", "UB", "auth", "bundle", "ids", "outcome", "pinfl", "seed", "settings_for"]
