"""Finding card entries for the FHIR providers: current versions only, newest first.

A FHIR resource is an *entry* (its id is the ``entry_id``, stable across versions) as the card
shows it now: the one version of it that is not ``superseded`` - either ``current`` or
``entered_in_error``. Filters the host parsed (patient PINFL, dates, ``_lastUpdated``, code,
status) and the order (``_sort``) become SQL, so ``limit`` holds after filtering. Every version
stays readable (``_history/<version>``); ``meta.lastUpdated`` is when the version was recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import false, func, select
from sqlalchemy.sql import ColumnElement

from host.pluginapi import FhirItem, FhirQuery, FhirRequest, FhirResource, fhir_uuid
from plugins.medcard.tables import entries, patients

_first = entries.alias("first_version")
#: When the entry was first recorded (its first version): a Condition's ``recordedDate``.
FIRST_RECORDED = (select(func.min(_first.c.recorded_at)).where(_first.c.entry_id == entries.c.entry_id)
                  .scalar_subquery().label("first_recorded"))


async def rows(req: FhirRequest, kinds: Sequence[str], query: FhirQuery,
               where: Sequence[ColumnElement[bool]] = ()) -> list[Any]:
    """Entries of ``kinds`` matching the query's patient and dates plus ``where``, newest first."""
    stmt = (select(entries, patients.c.pinfl, FIRST_RECORDED)
            .join(patients, patients.c.id == entries.c.patient_id)
            .where(entries.c.kind.in_(kinds), entries.c.status != "superseded", *where))
    if query.patient is not None:
        stmt = stmt.where(patients.c.pinfl == query.patient)
    if query.since is not None:
        stmt = stmt.where(entries.c.performed_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(entries.c.performed_at < query.until)
    if query.updated_since is not None:
        stmt = stmt.where(entries.c.recorded_at >= query.updated_since)
    if query.updated_until is not None:
        stmt = stmt.where(entries.c.recorded_at < query.updated_until)
    key = entries.c.recorded_at if query.by_updated else entries.c.performed_at
    tie = entries.c.entry_id
    order = (key.asc(), tie.asc()) if query.ascending else (key.desc(), tie.desc())
    stmt = stmt.order_by(*order).limit(max(query.limit, 0))
    return list((await req.tx.execute(stmt)).all())


async def one(req: FhirRequest, kinds: Sequence[str], entry_id: str,
              version: str | None = None) -> Any | None:
    """The entry with this id among ``kinds`` as the card shows it now (or at ``version``), or None."""
    found = fhir_uuid(entry_id)
    if found is None or (version is not None and not (version.isascii() and version.isdigit()
                                                      and len(version) <= 6)):
        return None
    which = entries.c.status != "superseded" if version is None else entries.c.version == int(version)
    stmt = (select(entries, patients.c.pinfl, FIRST_RECORDED)
            .join(patients, patients.c.id == entries.c.patient_id)
            .where(entries.c.entry_id == found, entries.c.kind.in_(kinds), which))
    return (await req.tx.execute(stmt)).first()


def common(row: Any, resource_type: str, profiles: Sequence[str] = ()) -> dict[str, Any]:
    """``resourceType``, ``id`` and ``meta`` (the entry's version and when it was written)."""
    meta: dict[str, Any] = {"versionId": str(row.version), "lastUpdated": row.recorded_at.isoformat()}
    if profiles:
        meta["profile"] = list(profiles)
    return {"resourceType": resource_type, "id": str(row.entry_id), "meta": meta}


def context(row: Any) -> dict[str, Any]:
    """The encounter: a visit's or a stay's id, served as Encounter by those modules."""
    out: dict[str, Any] = {}
    if row.encounter_id is not None:
        out["encounter"] = {"reference": f"Encounter/{row.encounter_id}"}
    return out


def practitioner(account: UUID) -> dict[str, str]:
    return {"reference": f"Practitioner/{account}"}


def in_error(row: Any) -> bool:
    return bool(row.status == "entered_in_error")


def status_code(query: FhirQuery) -> str:
    """The ``status`` token's code: ``system|code`` or a bare code."""
    assert query.status is not None
    return query.status.partition("|")[2] or query.status


def final_or_in_error(query: FhirQuery) -> ColumnElement[bool]:
    """``status`` for a resource whose entry is either ``final`` or ``entered-in-error``."""
    return {"final": entries.c.status == "current",
            "entered-in-error": entries.c.status == "entered_in_error"}.get(status_code(query), false())


ToResource = Callable[[Any, dict[str, Any]], dict[str, Any]]
Filters = Callable[[FhirQuery], list[ColumnElement[bool]]]


def entry_resource(type_: str, kinds: Sequence[str], to_resource: ToResource,
                   filters: Filters) -> FhirResource:
    """A provider of card entries of ``kinds`` as ``type_``: ``to_resource(row, subject)`` maps one
    row, ``filters(query)`` turns the search's code and status into conditions."""

    async def item(req: FhirRequest, row: Any) -> FhirItem:
        return FhirItem(resource=to_resource(row, await req.patient_ref(row.pinfl)), patient=row.pinfl,
                        when=row.performed_at, version=str(row.version), updated=row.recorded_at)

    async def read(req: FhirRequest, id: str) -> FhirItem | None:
        row = await one(req, kinds, id)
        return None if row is None else await item(req, row)

    async def history(req: FhirRequest, id: str, version: str) -> FhirItem | None:
        row = await one(req, kinds, id, version)
        return None if row is None else await item(req, row)

    async def search(req: FhirRequest, query: FhirQuery) -> list[FhirItem]:
        return [await item(req, row) for row in await rows(req, kinds, query, filters(query))]

    return FhirResource(type=type_, object="medcard.entry", action="read", read=read, search=search,
                        params=("patient", "date", "code", "status", "_lastUpdated"),
                        sorts=("date", "_lastUpdated"), history=history)
