"""The patient's timeline: one chronological list, newest first, keyset-paginated.

The key is (performed_at, row id), both immutable, so a page boundary never moves: entries added
meanwhile appear on their own place in the order and never repeat or push others off a page.
"""

from __future__ import annotations

import base64
from datetime import datetime
from uuid import UUID

from sqlalchemy import and_, or_, select

from core.errors import ValidationFailed
from plugins.medcard import patients as registry
from plugins.medcard.audit import Audit
from plugins.medcard.entries import to_entry
from plugins.medcard.schema import EntryPage
from plugins.medcard.tables import entries
from ports.storage import Transaction


def _cursor(performed_at: datetime, row_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{performed_at.isoformat()}|{row_id}".encode()).decode()


def _uncursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        at, _, rid = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, UUID(rid)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("the page cursor is not valid; start again without it") from None


async def page(tx: Transaction, patient_id: UUID, *, limit: int, cursor: str | None = None,
               kind: str | None = None, since: datetime | None = None, until: datetime | None = None,
               history: bool = False, audit: Audit) -> EntryPage:
    """Current versions only, unless ``history`` asks for every version (superseded, in error)."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(f"{name} needs a timezone")
    patient = await registry.get(tx, patient_id)
    stmt = select(entries).where(entries.c.patient_id == patient_id)
    if not history:
        stmt = stmt.where(entries.c.status == "current")
    if kind:
        stmt = stmt.where(entries.c.kind == kind)
    if since is not None:
        stmt = stmt.where(entries.c.performed_at >= since)
    if until is not None:
        stmt = stmt.where(entries.c.performed_at < until)
    if cursor:
        at, rid = _uncursor(cursor)
        stmt = stmt.where(or_(entries.c.performed_at < at,
                              and_(entries.c.performed_at == at, entries.c.id < rid)))
    rows = (await tx.execute(stmt.order_by(entries.c.performed_at.desc(), entries.c.id.desc())
                             .limit(limit + 1))).all()
    items = [to_entry(row) for row in rows[:limit]]
    nxt = _cursor(items[-1].performed_at, items[-1].version_id) if len(rows) > limit else None
    await audit(tx, "medcard.entry/read", patient=patient.pinfl, object=str(patient_id),
                detail=f"timeline: {len(items)} entries")
    return EntryPage(items=items, next=nxt)
