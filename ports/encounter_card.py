"""The encounter kit's reading side (see :mod:`ports.encounters`): the tables that hold an
encounter's copies of card entries, the sections every encounter card shows, and the reads the
patient app and the FHIR facade make of a module's encounters."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import msgspec
from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, Uuid, func, select
from sqlalchemy.dialects.postgresql import JSONB

from core.errors import NotFound
from ports.sql import UtcDateTime
from ports.storage import Transaction

if TYPE_CHECKING:
    from ports.encounters import Encounters

Json = JSON().with_variant(JSONB(), "postgresql")
#: card entry kind -> section; a kind the card may add later shows only once it is named here
SECTIONS = {"complaint": "complaints", "finding": "findings", "indicator": "indicators",
            "diagnosis": "diagnoses", "lab": "results", "instrumental": "results",
            "prescription": "prescriptions"}


class AttachedEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A card entry (or a prescription) on an encounter's card: the card's summary of the newest
    version delivered; ``status`` is ``current`` (an entry entered in error leaves the card)."""

    entry_id: UUID
    kind: str
    performed_at: datetime
    status: str
    summary: dict[str, Any]


class EncounterCard(msgspec.Struct, frozen=True, kw_only=True):
    """The sections every encounter card has; a module's card adds its own fields."""

    complaints: list[AttachedEntry]  # what the patient reports, with the history of the illness
    findings: list[AttachedEntry]  # the objective examination
    indicators: list[AttachedEntry]
    diagnoses: list[AttachedEntry]
    results: list[AttachedEntry]  # laboratory and instrumental
    prescriptions: list[AttachedEntry]  # from the erecipe module, marked when cancelled


def entry_tables(metadata: MetaData, module: str, noun: str) -> tuple[Table, Table]:
    """``<module>_<noun>_entries`` (an encounter's copies of card entries, owner ``<noun>_id``)
    and ``<module>_entry_marks`` (each record's newest mark, see :mod:`ports.projection`). Each
    module's migrations create its own pair."""
    entries = Table(
        f"{module}_{noun}_entries", metadata,
        Column(f"{noun}_id", Uuid, primary_key=True),
        Column("entry_id", Uuid, primary_key=True),
        Column("kind", String(32), nullable=False),
        Column("performed_at", UtcDateTime, nullable=False),
        Column("status", String(24), nullable=False),  # current | entered_in_error
        Column("summary", Json, nullable=False),
        Column("version", Integer, nullable=False, server_default="1"),  # the entry version of the content
    )
    Index(f"ix_{module}_{noun}_entries_entry", entries.c.entry_id)
    marks = Table(
        f"{module}_entry_marks", metadata,
        Column("record_id", Uuid, primary_key=True),
        Column("version", Integer, nullable=False),
        Column("status", String(24), nullable=False),
        Column("patch", Json, nullable=False),
    )
    return entries, marks


async def attached(kit: Encounters, tx: Transaction, encounter_id: UUID,
                   kind: str | None = None) -> list[AttachedEntry]:
    """The encounter's current entries (of one ``kind``), in the order they were performed."""
    c = kit.entries.c
    stmt = select(kit.entries).where(c[kit.owner] == encounter_id, c.status == "current")
    if kind is not None:
        stmt = stmt.where(c.kind == kind)
    rows = await tx.execute(stmt.order_by(c.performed_at, c.entry_id))
    return [AttachedEntry(entry_id=r.entry_id, kind=r.kind, performed_at=r.performed_at, status=r.status,
                          summary=r.summary) for r in rows]


async def sections(kit: Encounters, tx: Transaction, encounter_id: UUID) -> dict[str, list[AttachedEntry]]:
    """The :class:`EncounterCard` fields of one encounter, as keyword arguments."""
    parts: dict[str, list[AttachedEntry]] = {s: [] for s in set(SECTIONS.values())}
    for entry in await attached(kit, tx, encounter_id):
        if section := SECTIONS.get(entry.kind):
            parts[section].append(entry)
    return parts


async def own(kit: Encounters, tx: Transaction, pinfl: str, encounter_id: UUID) -> Any:
    """The patient's own encounter; another patient's answers 404 exactly like an unknown one."""
    t = kit.table
    row = (await tx.execute(select(t).where(t.c.id == encounter_id, t.c.pinfl == pinfl))).first()
    if row is None:
        raise NotFound(f"you have no {kit.noun} {encounter_id}")
    return row


async def mine(kit: Encounters, tx: Transaction, pinfl: str, limit: int) -> list[Any]:
    """The patient's encounters, newest first."""
    t = kit.table
    return list((await tx.execute(select(t).where(t.c.pinfl == pinfl)
                                  .order_by(kit.opened.desc(), t.c.id).limit(limit))).all())


class EncounterQuery(Protocol):
    """What an encounter search reads of a FHIR query (``host.pluginapi.FhirQuery``)."""

    @property
    def patient(self) -> str | None: ...
    @property
    def since(self) -> datetime | None: ...
    @property
    def until(self) -> datetime | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def limit(self) -> int: ...
    @property
    def updated_since(self) -> datetime | None: ...
    @property
    def updated_until(self) -> datetime | None: ...
    @property
    def by_updated(self) -> bool: ...
    @property
    def ascending(self) -> bool: ...


async def one(kit: Encounters, tx: Transaction, encounter_id: UUID | None) -> Any:
    """The encounter with this id at any facility, or None."""
    if encounter_id is None:
        return None
    return (await tx.execute(select(kit.table).where(kit.table.c.id == encounter_id))).first()


async def search(kit: Encounters, tx: Transaction, query: EncounterQuery,
                 statuses: dict[str, str]) -> list[Any]:
    """Encounters matching a FHIR search (``statuses`` maps the module's status to FHIR's), in the
    query's order (by the opening, or by the last change: the closing, else the opening), at most
    ``query.limit``."""
    t = kit.table
    changed = func.coalesce(kit.closed, kit.opened)
    stmt = select(t)
    if query.updated_since is not None:
        stmt = stmt.where(changed >= query.updated_since)
    if query.updated_until is not None:
        stmt = stmt.where(changed < query.updated_until)
    if query.patient is not None:
        stmt = stmt.where(t.c.pinfl == query.patient)
    if query.since is not None:
        stmt = stmt.where(kit.opened >= query.since)
    if query.until is not None:
        stmt = stmt.where(kit.opened < query.until)
    if query.status is not None:
        wanted = query.status.partition("|")[2] or query.status
        stmt = stmt.where(t.c.status.in_([k for k, v in statuses.items() if v == wanted]))
    key = changed if query.by_updated else kit.opened
    order = (key.asc(), t.c.id.asc()) if query.ascending else (key.desc(), t.c.id.desc())
    rows = await tx.execute(stmt.order_by(*order).limit(max(query.limit, 0)))
    return list(rows.all())
