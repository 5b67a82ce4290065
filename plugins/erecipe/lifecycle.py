"""States of a prescription, the 409 reasons, the history, and the expiry sweep.

issued -> partially_dispensed -> dispensed; issued / partially_dispensed -> cancelled | expired.
``expired`` is derived on every read from ``valid_until`` (so nothing is dispensed a second late
whether or not the sweep has run) and made durable by :class:`Expiry`, which stores the state and
publishes ``erecipe.expired``. The host starts the sweep with the app (``start_background``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update

from core.clock import utcnow
from core.errors import Conflict
from core.events import PrescriptionExpired
from core.ids import new_id
from plugins.erecipe.tables import history, prescriptions
from ports.conflicts import run_unit
from ports.periodic import Periodic
from ports.storage import Storage, Transaction, prepared

ACTIVE = ("issued", "partially_dispensed")
_RECORD = prepared(history.insert())  # every step of every prescription


def effective(status: str, valid_until: datetime, now: datetime) -> str:
    return "expired" if status in ACTIVE and valid_until <= now else status


def refusal(row: Any, now: datetime) -> Conflict | None:
    """Why ``row`` cannot be dispensed or cancelled now (None: it can)."""
    status = effective(row.status, row.valid_until, now)
    reasons = {
        "draft": "the prescription is a draft: it was never signed and issued",
        "expired": f"the prescription expired at {row.valid_until.isoformat()}",
        "cancelled": f"the prescription was cancelled by the prescriber: {row.cancel_reason}",
        "dispensed": "the prescription has been dispensed in full",
    }
    return Conflict(reasons[status]) if status in reasons else None


async def record(tx: Transaction, rx: UUID, status: str, *, by: UUID | None, at: datetime,
                 reason: str | None = None, detail: dict[str, Any] | None = None) -> None:
    await tx.execute(_RECORD, {"id": new_id(), "prescription_id": rx, "at": at, "status": status, "by": by,
                               "reason": reason, "detail": detail})


async def expire_due(tx: Transaction, now: datetime, limit: int = 500) -> int:
    """Store ``expired`` for active prescriptions past their validity; one event each."""
    due = (await tx.execute(select(prescriptions).where(
        prescriptions.c.status.in_(ACTIVE), prescriptions.c.valid_until <= now).limit(limit))).all()
    done = 0
    for row in due:
        changed = await tx.execute(update(prescriptions).where(
            prescriptions.c.id == row.id, prescriptions.c.status.in_(ACTIVE)).values(status="expired"))
        if changed.rowcount != 1:  # a dispense or cancel got there first
            continue
        await record(tx, row.id, "expired", by=None, at=now, reason="validity period ended")
        await tx.publish(PrescriptionExpired(prescription_id=row.id, number=row.number,
                                             valid_until=row.valid_until, patient=row.patient_pinfl,
                                             facility=row.facility))
        done += 1
    return done


class Expiry:
    """The service ``erecipe.expiry``: ``sweep()`` on demand, and a periodic task while serving."""

    interval = 60.0

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._periodic = Periodic("erecipe.expiry", self.sweep, self.interval)

    async def sweep(self, now: datetime | None = None) -> int:
        at = now or utcnow()
        return await run_unit(self.storage, lambda tx: expire_due(tx, at))

    async def start_background(self) -> None:
        await self._periodic.start()

    async def stop_background(self) -> None:
        await self._periodic.stop()
