"""An examination in one request: several card entries (vital signs, complaints, findings,
diagnoses, ...) recorded in one transaction.

Each entry is checked by :func:`entries.check`, the per-kind routes' own check, and gets its own
event and audit entry. Entries are checked in the order sent, and a later one sees the earlier ones
(BMI from a weight sent just before, one primary diagnosis per encounter). The round trips do not
grow with the entries: the patient is read once, the entries are inserted with one statement and
their events with another (held back only until a check that reads the card), and the caller
appends their audit entries at once (``ctx.audit_batch``). An error names the entry it is about
(``entries.2.value``); the caller runs this inside one transaction, so the error leaves nothing
written and no event.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

import msgspec

from core.clock import utcnow
from core.errors import Conflict, ShifoError, ValidationFailed
from plugins.medcard import entries
from plugins.medcard.audit import Audit
from plugins.medcard.entries import Author
from plugins.medcard.inputs import EntryIn
from plugins.medcard.schema import Entry
from ports.storage import Transaction


class Examination(msgspec.Struct, frozen=True, kw_only=True):
    """The entries recorded, in the order they were sent."""

    entries: list[Entry]


async def record(tx: Transaction, patient_id: UUID, items: Sequence[EntryIn], *, by: Author,
                 late_after: timedelta, audit: Audit) -> Examination:
    """Record ``items`` on the patient's card in ``tx``; the first that fails raises, pointing at it."""
    now = utcnow()
    patient = await entries.patient_pinfl(tx, patient_id)
    held: list[dict[str, Any]] = []
    written: list[dict[str, Any]] = []
    for index, data in enumerate(items):
        try:
            if held and entries.reads_card(data):
                await entries.write(tx, patient[0], held, by, audit)
                written, held = written + held, []
            _, found = await entries.check(tx, patient_id, data, now, patient=patient)
        except (ValidationFailed, Conflict) as exc:
            raise located(exc, index, entries.kind_of(data)) from exc
        held.append(entries.new_row(patient_id, data, found, by, now, entry_id=None, version=1,
                                    late=now - data.performed_at > late_after))
    await entries.write(tx, patient[0], held, by, audit)
    return Examination(entries=[entries.to_entry(row) for row in written + held])


def located(exc: ShifoError, index: int, kind: str) -> ShifoError:
    """``exc`` again, its detail naming the entry, each error's ``field`` and ``pointer`` inside it
    (``entries.2.value``, ``#/entries/2/value``: the shape the host gives a body that does not
    parse)."""
    errors = [_within(index, e) for e in exc.errors] or [
        {"field": f"entries.{index}", "pointer": f"#/entries/{index}", "message": exc.detail}]
    return type(exc)(f"entries[{index}] ({kind}): {exc.detail}", errors=errors)


def _within(index: int, error: dict[str, Any]) -> dict[str, Any]:
    parts = [str(index), *re.findall(r"[^.\[\]]+", str(error.get("field") or ""))]  # a[0].b -> a, 0, b
    return {**error, "field": "entries." + ".".join(parts), "pointer": "#/entries/" + "/".join(parts)}
