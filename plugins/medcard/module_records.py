"""What the other modules record for the patient, projected from their events onto the card.

The card never asks erecipe, polyclinic or hospital anything (plugins never import each other): it
listens to their catalogue events and keeps one row per prescription, visit or stay, upserted as
later events arrive, by the rules of :mod:`plugins.medcard.module_changes` (the row depends only on
which events arrived, not on their order).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import bindparam, select, update

from core import events as ev
from host.pluginapi import EventHandler
from plugins.medcard import patients as registry
from plugins.medcard.audit import Audit
from plugins.medcard.module_changes import FIRST_STATUS, applied, change_of
from plugins.medcard.tables import module_records
from ports.sql import DIALECTS, in_list
from ports.storage import Transaction, prepared

__all__ = ["FIRST_STATUS", "HANDLER", "ModuleRecord", "listing", "project", "project_all"]


class ModuleRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    source: str
    kind: str
    record_id: UUID
    status: str
    summary: dict[str, Any]
    occurred_at: datetime
    updated_at: datetime


# Built once: the handler runs per event. An update sets every column it may change (to the value it
# has, if unchanged), so each is one statement whatever changed; a batch's rows are read by one
# prepared statement whatever their number (PostgreSQL: = ANY(array)).
_ROWS = {d: prepared(select(module_records).where(in_list(module_records.c.source, "sources", d),
                                                  in_list(module_records.c.record_id, "ids", d)))
         for d in DIALECTS}
_INSERT = prepared(module_records.insert())
_UPDATE = prepared(update(module_records).where(module_records.c.id == bindparam("row_id")))
_SET = ("summary", "status", "occurred_at", "updated_at")


async def project(event: ev.Event, tx: Transaction) -> None:
    """The event handler: insert the record's row, or bring its status and summary up to date."""
    await project_all([event], tx)


async def project_all(events: Sequence[ev.Event], tx: Transaction) -> None:
    """The batch handler: each record's events applied in order in memory, as :func:`project` would
    one by one, then one select, one insert and one update for them all."""
    changes = [(c, e) for e in events if e.patient is not None and (c := change_of(e)) is not None]
    keys = list(dict.fromkeys((c.source, c.record_id) for c, _ in changes))
    if not keys:
        return
    found = (await tx.execute(_ROWS[tx.dialect], {"sources": sorted({s for s, _ in keys}),
                                                  "ids": [r for _, r in keys]})).all()
    stored = {(r.source, r.record_id): dict(r._mapping) for r in found}
    rows: dict[tuple[str, UUID], dict[str, Any]] = {}
    for change, event in changes:
        key = (change.source, change.record_id)
        rows[key] = applied(rows.get(key) or stored.get(key), change, event)
    new = [row for key, row in rows.items() if key not in stored]
    old = [{"row_id": row["id"], **{c: row[c] for c in _SET}} for key, row in rows.items() if key in stored]
    for statement, params in ((_INSERT, new), (_UPDATE, old)):
        if params:  # a list: one executemany
            await tx.execute(statement, params[0] if len(params) == 1 else params)


HANDLER = EventHandler(consumer="medcard.module_records", handle=project, handle_batch=project_all,
                       event_types=tuple(cls.event_type() for cls in (
        ev.PrescriptionIssued, ev.PrescriptionCancelled, ev.PrescriptionDispensed, ev.PrescriptionExpired,
        ev.VisitOpened, ev.VisitClosed, ev.ReferralCreated, ev.OrderCreated,
        ev.PatientAdmitted, ev.PatientTransferred, ev.PatientDischarged)))


async def listing(tx: Transaction, patient_id: UUID, *, kind: str | None, audit: Audit) -> list[ModuleRecord]:
    """The patient's prescriptions, visits and stays, newest first (404 for an unknown patient)."""
    patient = await registry.get(tx, patient_id)
    stmt = select(module_records).where(module_records.c.pinfl == patient.pinfl)
    if kind:
        stmt = stmt.where(module_records.c.kind == kind)
    rows = (await tx.execute(stmt.order_by(module_records.c.occurred_at.desc(), module_records.c.id))).all()
    found = [ModuleRecord(id=r.id, source=r.source, kind=r.kind, record_id=r.record_id, status=r.status,
                          summary=r.summary, occurred_at=r.occurred_at, updated_at=r.updated_at)
             for r in rows]
    await audit(tx, "medcard.entry/read", patient=patient.pinfl, object=str(patient_id),
                detail=f"module records: {len(found)}")
    return found
