"""Facility reports: late entries (per facility and per user) and what the card sees is missing.

Late counts the first version of each entry only: a correction is an amendment, not a late entry.
Completeness here is what the card alone knows; checks that need visits (a closed visit without a
diagnosis) belong to the polyclinic and hospital modules.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import func, select

from core.clock import utcnow
from plugins.medcard.audit import Audit
from plugins.medcard.entries import entries_as
from plugins.medcard.schema import CompletenessReport, Entry, LateEntry, LateReport, UserCount
from plugins.medcard.tables import entries
from ports.storage import Transaction

LIST_LIMIT = 500


async def late(tx: Transaction, facility: str, *, late_after: timedelta, since: datetime | None = None,
               author: UUID | None = None, audit: Audit) -> LateReport:
    where = [entries.c.facility == facility, entries.c.late.is_(True), entries.c.version == 1]
    if since is not None:
        where.append(entries.c.recorded_at >= since)
    if author is not None:
        where.append(entries.c.author == author)
    counts = await tx.execute(
        select(entries.c.author, entries.c.role, func.count().label("n")).where(*where)
        .group_by(entries.c.author, entries.c.role).order_by(func.count().desc(), entries.c.author))
    rows = await tx.execute(select(entries).where(*where)
                            .order_by(entries.c.recorded_at.desc(), entries.c.id.desc()).limit(LIST_LIMIT))
    listed = entries_as(Entry, rows.all())
    await audit(tx, "medcard.report/late", object=facility, detail=f"{len(listed)} entries")
    return LateReport(
        facility=facility, late_after_hours=late_after.total_seconds() / 3600,
        by_user=[UserCount(author=c.author, role=c.role, late_entries=c.n) for c in counts],
        entries=[LateEntry(entry=e, delay_hours=round((e.recorded_at - e.performed_at)
                                                      .total_seconds() / 3600, 1)) for e in listed])


async def completeness(tx: Transaction, facility: str, *, stale_after_days: int,
                       audit: Audit) -> CompletenessReport:
    base = [entries.c.facility == facility, entries.c.status == "current"]
    cutoff = utcnow() - timedelta(days=stale_after_days)
    provisional = await tx.execute(select(entries).where(
        *base, entries.c.kind == "diagnosis", entries.c.clinical_status == "provisional",
        entries.c.performed_at < cutoff).order_by(entries.c.performed_at, entries.c.id).limit(LIST_LIMIT))
    pending = await tx.execute(select(entries).where(
        *base, entries.c.kind == "lab", entries.c.clinical_status == "pending")
        .order_by(entries.c.performed_at, entries.c.id).limit(LIST_LIMIT))
    report = CompletenessReport(facility=facility,
                                unconfirmed_diagnoses=entries_as(Entry, provisional.all()),
                                pending_lab_results=entries_as(Entry, pending.all()))
    await audit(tx, "medcard.report/completeness", object=facility)
    return report
