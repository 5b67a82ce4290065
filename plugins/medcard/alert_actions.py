"""What clinicians do with alerts: list the open ones, acknowledge one with a note, and the
facility's time-to-acknowledge report. Every read and write of an alert is audited per patient.
"""

from __future__ import annotations

import math
import statistics
from datetime import datetime
from uuid import UUID

import msgspec
from sqlalchemy import select, update

from core.errors import Conflict, NotFound
from plugins.medcard.alert_events import Alert, AlertAcknowledged
from plugins.medcard.alerts import views
from plugins.medcard.audit import Audit
from plugins.medcard.tables import alert_recipients, alerts
from ports.storage import Transaction


class AlertReport(msgspec.Struct, frozen=True, kw_only=True):
    """Alerts of one facility raised in ``[since, until)``; times to acknowledge in seconds."""

    facility: str
    since: datetime
    until: datetime
    count: int
    acknowledged: int
    unacknowledged: int
    escalated: int
    median_seconds: float | None
    p90_seconds: float | None
    max_seconds: float | None


async def open_alerts(tx: Transaction, facility: str, account: UUID | None, *, audit: Audit) -> list[Alert]:
    """The facility's open alerts, oldest first: those addressed to ``account``, or all (None)."""
    a = alerts.c
    stmt = select(alerts).where(a.facility == facility, a.status == "open")
    if account is not None:
        stmt = stmt.where(a.id.in_(select(alert_recipients.c.alert_id)
                                   .where(alert_recipients.c.account == account)))
    found = await views(tx, list((await tx.execute(stmt.order_by(a.raised_at, a.id))).all()))
    for pinfl in dict.fromkeys(alert.pinfl for alert in found):
        await audit(tx, "medcard.alert/read", patient=pinfl,
                    detail=f"open alerts: {sum(x.pinfl == pinfl for x in found)}")
    return found


async def acknowledge(tx: Transaction, facility: str, alert_id: UUID, *, by: UUID, note: str, now: datetime,
                      audit: Audit) -> Alert:
    """Close an open alert of the facility; 409 if it was acknowledged already (by anyone)."""
    a = alerts.c
    done = await tx.execute(update(alerts).where(a.id == alert_id, a.facility == facility, a.status == "open")
                            .values(status="acknowledged", acknowledged_at=now, acknowledged_by=by,
                                    note=note))
    row = (await tx.execute(select(alerts).where(a.id == alert_id, a.facility == facility))).first()
    if row is None:
        raise NotFound(f"no alert {alert_id} at this facility")
    if done.rowcount != 1:
        raise Conflict(f"the alert was already acknowledged at {row.acknowledged_at.isoformat()}")
    [alert] = await views(tx, [row])
    await tx.publish(AlertAcknowledged(patient=row.pinfl, facility=facility, alert=alert))
    await audit(tx, "medcard.alert/acknowledge", patient=row.pinfl, object=str(alert_id))
    return alert


def _percentile(ordered: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least ``share`` of the values at or below it."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


async def report(tx: Transaction, facility: str, since: datetime, until: datetime, *,
                 audit: Audit) -> AlertReport:
    a = alerts.c
    rows = (await tx.execute(select(a.status, a.raised_at, a.acknowledged_at, a.escalated_at).where(
        a.facility == facility, a.raised_at >= since, a.raised_at < until))).all()
    waits = sorted((r.acknowledged_at - r.raised_at).total_seconds() for r in rows
                   if r.acknowledged_at is not None)
    await audit(tx, "medcard.report/read", detail=f"alert acknowledgement: {len(rows)} alerts")
    return AlertReport(
        facility=facility, since=since, until=until, count=len(rows), acknowledged=len(waits),
        unacknowledged=sum(r.status == "open" for r in rows),
        escalated=sum(r.escalated_at is not None for r in rows),
        median_seconds=statistics.median(waits) if waits else None,
        p90_seconds=_percentile(waits, 0.9) if waits else None, max_seconds=waits[-1] if waits else None)
