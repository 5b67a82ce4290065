"""The events a card entry raises when it is written: what every module learns of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from core.events import CriticalLabValue, EntryRecorded, Event
from ports.storage import Transaction

if TYPE_CHECKING:
    from plugins.medcard.entries import Author


def summary(row: dict[str, Any]) -> dict[str, object]:
    return {"code": row["code"], "status": row["status"], "version": row["version"], **row["data"]}


def recorded(pinfl: str, row: dict[str, Any], by: Author) -> list[Event]:
    """A new entry's events: it was recorded, and a critical lab value if it is one."""
    made: list[Event] = [EntryRecorded(
        patient=pinfl, facility=by.facility, entry_id=row["entry_id"], kind=row["kind"], author=by.id,
        encounter_id=row["encounter_id"], performed_at=row["performed_at"], summary=summary(row))]
    alarm = critical(pinfl, row, by)
    return made if alarm is None else [*made, alarm]


async def publish_critical(tx: Transaction, pinfl: str, row: dict[str, Any], by: Author) -> None:
    """A critical lab value raises an event addressed to the clinician who asked for the test."""
    alarm = critical(pinfl, row, by)
    if alarm is not None:
        await tx.publish(alarm)


def critical(pinfl: str, row: dict[str, Any], by: Author) -> CriticalLabValue | None:
    """The alarm of a critical (LL/HH) lab value, addressed to whoever asked for the test; else None."""
    if row["kind"] != "lab" or row["flag"] not in ("LL", "HH"):
        return None
    data = row["data"]
    named = UUID(data["requested_by"]) if data.get("requested_by") else None
    return CriticalLabValue(
        patient=pinfl, facility=by.facility, entry_id=row["entry_id"], requested_by=named or by.id,
        ordered_by=named, encounter_id=row["encounter_id"], test=data["test"], loinc=data.get("loinc"),
        value=data["value"], unit=data.get("unit"), flag=row["flag"], performed_at=row["performed_at"])
