"""Escalation: an alert nobody acknowledged in time goes to every doctor on duty at its facility.

*On duty* is read from what the card knows of the facility's work, with no roster of its own: the
doctors and residents who recorded an entry on a card there within the duty window (``duty_hours``,
default 12, one shift), the doctors of its open outpatient visits and the attending doctors of its
admitted stays. A person who lost their grant meanwhile is still listed, but the host's guard
refuses them every alert route, so nothing is shown to them.

The sweep is driven by :class:`AlertService`'s ``clock`` (``core.clock.utcnow`` unless a test
injects another), so escalation is tested by moving the clock, never by sleeping. Each alert is
escalated once, by a conditional ``UPDATE … WHERE status = 'open' AND escalated_at IS NULL``:
several processes sweeping at once escalate it once and publish one ``medcard.alert_escalated``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import select, update

from core.clock import utcnow
from plugins.medcard import config
from plugins.medcard.alert_events import AlertEscalated
from plugins.medcard.alerts import OPEN, STAY, VISIT, recipients_of, to_alert
from plugins.medcard.tables import alert_recipients, alerts, entries, module_records
from ports.conflicts import run_unit
from ports.periodic import Periodic
from ports.storage import Storage, Transaction

log = logging.getLogger(__name__)
DOCTORS = ("doctor", "resident")


async def on_duty(tx: Transaction, facility: str, now: datetime, window: timedelta) -> set[UUID]:
    """The doctors on duty at ``facility`` at ``now`` (see the module's docstring)."""
    e, m = entries.c, module_records.c
    found = {row.author for row in await tx.execute(select(e.author).distinct().where(
        e.facility == facility, e.role.in_(DOCTORS), e.recorded_at > now - window, e.recorded_at <= now))}
    for row in await tx.execute(select(m.kind, m.summary).where(
            m.kind.in_((VISIT, STAY)), m.status.in_(OPEN), m.summary["facility"].as_string() == facility)):
        who = row.summary.get("doctor" if row.kind == VISIT else "attending")
        if who:
            found.add(UUID(who))
    return found


async def escalate_due(tx: Transaction, now: datetime, after: timedelta, window: timedelta,
                       limit: int = 200) -> int:
    """Escalate the open alerts raised ``after`` ago or more; returns how many."""
    a = alerts.c
    due = (await tx.execute(select(alerts).where(a.status == "open", a.escalated_at.is_(None),
                                                 a.raised_at <= now - after)
                            .order_by(a.raised_at).limit(limit))).all()
    done = 0
    for row in due:
        changed = await tx.execute(update(alerts).where(a.id == row.id, a.status == "open",
                                                        a.escalated_at.is_(None)).values(escalated_at=now))
        if changed.rowcount != 1:  # acknowledged or escalated meanwhile
            continue
        held = (await recipients_of(tx, [row.id]))[row.id]
        added = sorted(await on_duty(tx, row.facility, now, window) - set(held))
        for account in added:
            await tx.execute(alert_recipients.insert().values(alert_id=row.id, account=account,
                                                              reason="escalated", added_at=now))
        if not added:
            log.warning("alert %s escalated at %s: no other doctor on duty there", row.id, row.facility)
        alert = to_alert({**row._mapping, "escalated_at": now}, [*held, *added])
        await tx.publish(AlertEscalated(patient=row.pinfl, facility=row.facility, alert=alert))
        done += 1
    return done


class AlertService:
    """The service ``medcard.alerts``: ``sweep()`` on demand, and a periodic sweep while serving."""

    interval = 30.0

    def __init__(self, storage: Storage, *, clock: Callable[[], datetime] = utcnow,
                 settings: config.Settings | None = None) -> None:
        self.storage, self.clock = storage, clock
        self.settings = settings or config.Settings()
        self._periodic = Periodic("medcard.alert_escalation", self.sweep, self.interval)

    def configure(self, settings: config.Settings) -> None:
        """Take ``alert_escalate_minutes`` and ``duty_hours`` from the module's settings."""
        self.settings = settings

    async def sweep(self) -> int:
        now, s = self.clock(), self.settings
        return await run_unit(self.storage, lambda tx: escalate_due(tx, now, s.escalate_after, s.duty))

    async def start_background(self) -> None:
        await self._periodic.start()

    async def stop_background(self) -> None:
        await self._periodic.stop()


def create(storage: Storage, *, settings: config.Settings | None = None) -> AlertService:
    """The service; the host passes the module's ``settings`` (``alert_escalate_minutes``,
    ``duty_hours``); without them, the defaults."""
    return AlertService(storage, settings=settings)
