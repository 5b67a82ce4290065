"""Fake modules for the FHIR facade tests: Patients and Observations served from lists.

``probe`` serves Patient and Observation (``probe.obs/read``: doctors and nurses) and offers
a patient directory; ``probe2`` serves more Observations (``probe2.obs/read``: doctors only),
so one type has two providers with different rules, as Encounter has in the real modules.
"""

from __future__ import annotations

import types
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from host.pluginapi import (
    Action,
    FhirItem,
    FhirQuery,
    FhirRequest,
    FhirResource,
    ModuleInfo,
    PolicyRule,
    hookimpl,
)
from ports.directory import PatientSummary
from ports.storage import Transaction
from tests.access.world import pinfl

PA, PB = pinfl(101), pinfl(102)  # two patients
IDS = {PA: uuid.UUID(int=0xA), PB: uuid.UUID(int=0xB)}
START = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
#: (id, patient, when, code, status): 25 pulses of A on 25 days from START, then 5 of B.
ROWS = [(f"p-{n}", PA, START + timedelta(days=n), "pulse", "final" if n % 5 else "amended") for n in range(25)]
ROWS += [(f"b-{n}", PB, START + timedelta(days=n, hours=1), "pulse", "final") for n in range(5)]
#: probe2's items: two more of A, one of them at exactly the time of p-3 (ties order by id).
ROWS2 = [("q-0", PA, START + timedelta(days=3), "glucose", "final"),
         ("q-1", PA, START + timedelta(days=30), "glucose", "final")]


class Directory:
    def __init__(self) -> None:
        self.people = {p: PatientSummary(id=i, pinfl=p, surname=f"Surname{p[-2:]}", given_name="Ali",
                                         patronymic=None, birth_date=date(1985, 5, 15), sex="male")
                       for p, i in IDS.items()}

    async def by_id(self, patient_id: uuid.UUID, tx: Transaction | None = None) -> PatientSummary | None:
        return next((p for p in self.people.values() if p.id == patient_id), None)

    async def by_pinfl(self, pinfl: str, tx: Transaction | None = None) -> PatientSummary | None:
        return self.people.get(pinfl)


def _serves(rows: list[tuple[str, str, datetime, str, str]]) -> tuple[Any, Any]:
    async def item(req: FhirRequest, row: tuple[str, str, datetime, str, str]) -> FhirItem:
        rid, patient, when, code, status = row
        return FhirItem(patient=patient, when=when, resource={
            "resourceType": "Observation", "id": rid, "status": status, "code": {"text": code},
            "subject": await req.patient_ref(patient), "effectiveDateTime": when.isoformat()})

    async def read(req: FhirRequest, rid: str) -> FhirItem | None:
        found = next((r for r in rows if r[0] == rid), None)
        return await item(req, found) if found else None

    async def search(req: FhirRequest, q: FhirQuery) -> list[FhirItem]:
        hits = [r for r in rows if (q.patient is None or r[1] == q.patient)
                and (q.since is None or r[2] >= q.since) and (q.until is None or r[2] < q.until)
                and (q.code is None or r[3] == q.code.rpartition("|")[2])
                and (q.status is None or r[4] == q.status)]
        hits.sort(key=lambda r: (-r[2].timestamp(), r[0]))
        return [await item(req, r) for r in hits[: q.limit]]

    return read, search


async def read_patient(req: FhirRequest, rid: str) -> FhirItem | None:
    found = next((p for p, i in IDS.items() if str(i) == rid), None)
    return patient_item(req, found) if found else None


def patient_item(req: FhirRequest, p: str) -> FhirItem:
    return FhirItem(patient=p, resource={
        "resourceType": "Patient", "id": str(IDS[p]), "identifier": [{"system": req.pinfl_system, "value": p}],
        "name": [{"family": f"Surname{p[-2:]}", "given": ["Ali"]}], "birthDate": "1985-05-15"})


async def search_patients(req: FhirRequest, q: FhirQuery) -> list[FhirItem]:
    value = (q.identifier or "").rpartition("|")[2]
    return [patient_item(req, p) for p in sorted(IDS) if not value or p == value][: q.limit]


def module(name: str, resources: list[FhirResource], roles: tuple[str, ...], services: dict[str, Any]
           ) -> types.SimpleNamespace:
    info = ModuleInfo(name=name, title=f"Fake {name}", version="0.0.1")
    objects = sorted({(r.object, r.action) for r in resources})
    return types.SimpleNamespace(
        shifo_module_info=hookimpl(lambda: info),
        shifo_actions=hookimpl(lambda: [Action(object=o, action=a) for o, a in objects]),
        shifo_policies=hookimpl(lambda: [PolicyRule(role=r, object=o, action=a) for o, a in objects
                                         for r in roles]),
        shifo_services=hookimpl(lambda: services),
        shifo_fhir_resources=hookimpl(lambda: resources),
    )


def plugins() -> dict[str, Any]:
    read, search = _serves(ROWS)
    read2, search2 = _serves(ROWS2)
    probe = module("probe", [
        FhirResource(type="Patient", object="probe.obs", action="read", read=read_patient,
                     search=search_patients, params=("identifier",)),
        FhirResource(type="Observation", object="probe.obs", action="read", read=read, search=search,
                     params=("patient", "date", "code", "status")),
    ], ("doctor", "nurse"), {"patient_directory": lambda storage: Directory()})
    probe2 = module("probe2", [
        FhirResource(type="Observation", object="probe2.obs", action="read", read=read2, search=search2,
                     params=("patient", "date", "code", "status")),
    ], ("doctor",), {})
    return {"probe": probe, "probe2": probe2}
