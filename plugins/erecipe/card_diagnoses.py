"""The patient's diagnoses as the medical card records them, projected from the card's events.

Issuing checks the prescription's ICD-10 code against this projection in its own transaction: a
diagnosis the card refuted or marked entered in error is refused; one the card lacks is allowed
(a prescription may come with a new diagnosis). Delivery is at least once and may reorder after a
retry, so a row takes its status only from an event of an entry version at least as recent as the
one it holds, and its code and verification (the version's content) only from a version at least
as recent as the one they came from: whatever the order, the row is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import bindparam, case, exists, literal_column, select, update

from core.errors import ValidationFailed
from core.events import EntryCorrected, EntryEnteredInError, EntryRecorded, Event
from host.pluginapi import EventHandler
from plugins.erecipe.tables import card_diagnoses
from ports.sql import DIALECTS, in_list
from ports.storage import Transaction, prepared

REFUSED = ("refuted", "entered_in_error")
_RANK = ("confirmed", "provisional", "refuted", "entered_in_error")  # what the card says, strongest first
_D = card_diagnoses.c


def _holds(*state: Any) -> Any:
    """Has the card an entry of the patient's code in this state? One probe of the index
    (pinfl, code, status, verification), however often the code was recorded."""
    return exists().where(_D.pinfl == bindparam("pinfl"), _D.code == bindparam("code"), *state)


def _in(said: str) -> tuple[Any, ...]:
    """The rows that say ``said``: a current entry's verification, or the entry marked in error."""
    if said == "entered_in_error":
        return (_D.status == said,)
    return (_D.status == "current", _D.verification == said)


# built once: every issue asks for the card's word, every diagnosis event for its row. The
# strongest state first: the database stops at the first that holds, so an issue for a chronic
# diagnosis (recorded at every visit) costs no more than for one recorded once.
_SAID = prepared(select(case(*((_holds(*_in(said)), literal_column(f"'{said}'")) for said in _RANK),
                             else_=literal_column("'absent'"))))
# a batch's rows in one prepared statement whatever their number (PostgreSQL: = ANY(array))
_ROWS = {d: prepared(select(card_diagnoses).where(in_list(_D.entry_id, "ids", d))) for d in DIALECTS}
_INSERT = prepared(card_diagnoses.insert())
_SET = ("code", "code_version", "verification", "status", "entry_version", "updated_at")
_UPDATE = prepared(update(card_diagnoses).where(_D.entry_id == bindparam("row_id")))  # every _SET column


class Seen(msgspec.Struct, frozen=True, kw_only=True):
    """What one event says about one diagnosis entry."""

    entry_id: UUID
    version: int
    status: str
    code: str | None = None
    verification: str | None = None


def _seen(event: Event) -> Seen | None:
    match event:
        case EntryRecorded(kind="diagnosis") | EntryCorrected(kind="diagnosis"):
            s = event.summary
            version = event.entry_version if isinstance(event, EntryCorrected) else s.get("version", 1)
            code, verification = s.get("icd10") or s.get("code"), s.get("verification")
            return Seen(entry_id=event.entry_id, version=version if isinstance(version, int) else 1,
                        status="current", code=code if isinstance(code, str) else None,
                        verification=verification if isinstance(verification, str) else None)
        case EntryEnteredInError(kind="diagnosis"):
            return Seen(entry_id=event.entry_id, version=event.entry_version, status="entered_in_error")
    return None


def _applied(row: dict[str, Any] | None, seen: Seen, event: Event) -> dict[str, Any]:
    """The entry's row (column -> value) after ``event``: a new row if ``row`` is None."""
    if row is None:
        return {"entry_id": seen.entry_id, "pinfl": event.patient, "code": seen.code,
                "code_version": seen.version if seen.code else 0, "verification": seen.verification,
                "status": seen.status, "entry_version": seen.version, "updated_at": event.occurred_at}
    row = dict(row)
    if seen.code is not None and seen.version >= row["code_version"]:  # the version's content
        row.update(code=seen.code, code_version=seen.version, verification=seen.verification)
    if seen.version >= row["entry_version"]:
        row.update(status=seen.status, entry_version=seen.version, updated_at=event.occurred_at)
    return row


async def project(event: Event, tx: Transaction) -> None:
    """The event handler: insert the entry's row or bring it up to the newest version seen."""
    await project_all([event], tx)


async def project_all(events: Sequence[Event], tx: Transaction) -> None:
    """The batch handler: each entry's events applied in order in memory, as :func:`project` would
    one by one, then one select, one insert and one update for them all."""
    seen = [(s, e) for e in events if e.patient is not None and (s := _seen(e)) is not None]
    ids = list(dict.fromkeys(s.entry_id for s, _ in seen))
    if not ids:
        return
    found = (await tx.execute(_ROWS[tx.dialect], {"ids": ids})).all()
    stored = {r.entry_id: dict(r._mapping) for r in found}
    rows: dict[UUID, dict[str, Any]] = {}
    for said, event in seen:
        rows[said.entry_id] = _applied(rows.get(said.entry_id) or stored.get(said.entry_id), said, event)
    new = [row for entry, row in rows.items() if entry not in stored]
    old = [{"row_id": entry, **{c: row[c] for c in _SET}} for entry, row in rows.items()
           if entry in stored and row != stored[entry]]
    for statement, params in ((_INSERT, new), (_UPDATE, old)):
        if params:  # a list: one executemany
            await tx.execute(statement, params[0] if len(params) == 1 else params)


async def on_card(tx: Transaction, pinfl: str, code: str) -> str:
    """``confirmed``, ``provisional``, ``refuted``, ``entered_in_error`` or ``absent``: the strongest
    thing the card says of this code (one current confirmed entry outweighs an older refuted one)."""
    return str((await tx.execute(_SAID, {"pinfl": pinfl, "code": code})).scalar_one())


async def check(tx: Transaction, pinfl: str, code: str) -> str:
    """The card's word on the diagnosis; 422 when the card refuted it or marked it entered in error."""
    found = await on_card(tx, pinfl, code)
    if found in REFUSED:
        said = "refuted" if found == "refuted" else "marked entered in error"
        detail = (f"the patient's medical card has diagnosis {code} {said}: a prescription cannot rest "
                  "on it; correct the card or prescribe for the diagnosis the card records")
        raise ValidationFailed(detail, errors=[{"field": "diagnosis", "message": detail}])
    return found


def _is_diagnosis(event: Event) -> bool:
    return getattr(event, "kind", None) == "diagnosis"


HANDLER = EventHandler(consumer="erecipe.card_diagnoses", handle=project, handle_batch=project_all,
                       accepts=_is_diagnosis, event_types=(
    EntryRecorded.event_type(), EntryCorrected.event_type(), EntryEnteredInError.event_type()))
