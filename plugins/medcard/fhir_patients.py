"""The patient registry as FHIR R5 ``Patient``: the id is the card's UUID, never the PINFL.

The PINFL is the official national identifier (type NI of HL7 v2 table 0203) in the deployment's
configured system (the guide's ``nationalId`` identifier slice): the resource claims UZ Core Patient.
The patronymic goes in ``name.suffix``, as the national guide places it: UZ Core Patient (Ministry
of Health with Uzinfocom) marks ``name.suffix`` must-support in its HumanName rule set and its
examples write e.g. family "Karimova", given "Nodira", suffix "Anvarovna"
(https://build.fhir.org/ig/uzinfocom-org/digital-health-ig/StructureDefinition-uz-core-patient.html,
examples example-salim and example-nodira).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import false, select
from sqlalchemy.sql import ColumnElement

from host.pluginapi import FhirItem, FhirQuery, FhirRequest, FhirResource, fhir_token, fhir_uuid, uz_core
from plugins.medcard.names import search_key
from plugins.medcard.tables import patients

_V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def to_patient(row: Any, pinfl_system: str) -> dict[str, Any]:
    name: dict[str, Any] = {"use": "official",
                            "text": " ".join(x for x in (row.surname, row.given_name, row.patronymic) if x),
                            "family": row.surname, "given": [row.given_name]}
    if row.patronymic:
        name["suffix"] = [row.patronymic]
    return {
        "resourceType": "Patient", "id": str(row.id),
        "meta": {"lastUpdated": row.registered_at.isoformat(), "profile": [uz_core("uz-core-patient")]},
        "identifier": [{"use": "official", "type": {"coding": [{
            "system": _V2_0203, "code": "NI", "display": "National unique individual identifier"}]},
            "system": pinfl_system, "value": row.pinfl}],
        "active": True,
        "name": [name],
        "gender": row.sex if row.sex in ("male", "female") else "unknown",
        "birthDate": row.birth_date.isoformat(),
    }


def _item(req: FhirRequest, row: Any) -> FhirItem:
    """The registry never changes a patient's row: one version, as registered."""
    return FhirItem(resource=to_patient(row, req.pinfl_system), patient=row.pinfl, when=row.registered_at,
                    version="1", updated=row.registered_at)


async def read(req: FhirRequest, id: str) -> FhirItem | None:
    found = fhir_uuid(id)
    if found is None:
        return None
    row = (await req.tx.execute(select(patients).where(patients.c.id == found))).first()
    return None if row is None else _item(req, row)


def _filters(req: FhirRequest, query: FhirQuery) -> list[ColumnElement[bool]]:
    """By PINFL (the identifier, or the patient's own compartment) or by surname and birth date
    together (the surname exact, folded as the registry's own search folds it: any letter case and
    apostrophe variant): like the registry's own search, never a bare list of everyone."""
    where: list[ColumnElement[bool]] = []
    if query.family is not None and query.birthdate is not None:
        where += [patients.c.surname_key == search_key(query.family),
                  patients.c.birth_date == query.birthdate]
    if query.patient is not None:
        where.append(patients.c.pinfl == query.patient)
    if query.identifier is not None:
        system, value = fhir_token(query.identifier)
        where.append(patients.c.pinfl == value if value and system in (None, req.pinfl_system) else false())
    return where or [false()]


async def search(req: FhirRequest, query: FhirQuery) -> list[FhirItem]:
    stmt = select(patients).where(*_filters(req, query))
    if query.since is not None:
        stmt = stmt.where(patients.c.registered_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(patients.c.registered_at < query.until)
    if query.updated_since is not None:
        stmt = stmt.where(patients.c.registered_at >= query.updated_since)
    if query.updated_until is not None:
        stmt = stmt.where(patients.c.registered_at < query.updated_until)
    at, id_ = patients.c.registered_at, patients.c.id
    order = (at.asc(), id_.asc()) if query.ascending else (at.desc(), id_.desc())
    rows = await req.tx.execute(stmt.order_by(*order).limit(max(query.limit, 0)))
    return [_item(req, row) for row in rows]


RESOURCE = FhirResource(type="Patient", object="medcard.patient", action="read", read=read, search=search,
                        params=("identifier", "patient", "family", "birthdate", "_lastUpdated"),
                        sorts=("_lastUpdated",))
