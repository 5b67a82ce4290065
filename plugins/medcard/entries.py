"""Recording entries on the card. One transaction: the entry row, its events (and audit) together.

Rules that hold for every kind: ``performed_at`` carries a timezone, is not in the future, not
before the patient was born; an entry recorded more than ``late_after`` after it is flagged late.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from sqlalchemy import bindparam, select

from core.clock import utcnow
from core.errors import NotFound, ValidationFailed
from core.ids import new_id
from plugins.medcard import diagnoses, entry_events, examination, instrumental, labs, vitals
from plugins.medcard.audit import Audit
from plugins.medcard.inputs import (
    ComplaintIn,
    DiagnosisIn,
    EntryIn,
    FindingIn,
    IndicatorIn,
    InstrumentalIn,
    LabIn,
)
from plugins.medcard.kinds import Normalized
from plugins.medcard.schema import Entry
from plugins.medcard.tables import entries, patients
from ports.storage import Transaction, prepared

CLOCK_SKEW = timedelta(seconds=120)  # devices' clocks drift; beyond this "future" is an error
_NORMALIZE: dict[type[Any], Callable[[Any], Normalized]] = {
    IndicatorIn: vitals.normalize, DiagnosisIn: diagnoses.normalize, LabIn: labs.normalize,
    InstrumentalIn: instrumental.normalize, ComplaintIn: examination.normalize_complaint,
    FindingIn: examination.normalize_finding}


class Author(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    role: str
    facility: str


# Built once: every entry written runs these.
_PINFL = prepared(select(patients.c.pinfl, patients.c.birth_date)
                  .where(patients.c.id == bindparam("patient_id")))
INSERT = prepared(entries.insert())


def kind_of(data: EntryIn) -> str:
    tag = type(data).__struct_config__.tag
    assert isinstance(tag, str)
    return tag


async def patient_pinfl(tx: Transaction, patient_id: UUID) -> tuple[str, Any]:
    row = (await tx.execute(_PINFL, {"patient_id": patient_id})).first()
    if row is None:
        raise NotFound(f"no patient {patient_id}")
    return row.pinfl, row.birth_date


async def check(tx: Transaction, patient_id: UUID, data: EntryIn, now: datetime, entry_id: UUID | None = None,
                *, patient: tuple[str, Any] | None = None) -> tuple[str, Normalized]:
    """Validate ``data`` for this patient (``patient``: their PINFL and birth date, if already
    read); returns the patient's PINFL and what to store."""
    at = data.performed_at
    if at.tzinfo is None:
        raise _time_error("performed_at needs a timezone (e.g. 2026-11-25T09:30:00+05:00)")
    if at > now + CLOCK_SKEW:
        raise _time_error("performed_at is in the future")
    found = _NORMALIZE[type(data)](data)
    pinfl, born = patient or await patient_pinfl(tx, patient_id)
    if at.date() < born:
        raise _time_error(f"performed_at is before the patient's birth ({born.isoformat()})")
    if isinstance(data, DiagnosisIn):
        await diagnoses.check_one_primary(tx, data, entry_id)
    if isinstance(data, IndicatorIn):
        found = await vitals.with_bmi(tx, patient_id, found, at)
    return pinfl, found


def _time_error(detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": "performed_at", "message": detail}])


def new_row(patient_id: UUID, data: EntryIn, found: Normalized, by: Author, now: datetime, *,
            entry_id: UUID | None, version: int, late: bool, status: str = "current",
            reason: str | None = None) -> dict[str, Any]:
    row_id = new_id()
    return {"id": row_id, "entry_id": entry_id or row_id, "patient_id": patient_id, "kind": kind_of(data),
            "code": found.code, "data": found.data, "performed_at": data.performed_at, "recorded_at": now,
            "author": by.id, "role": by.role, "facility": by.facility, "encounter_id": data.encounter_id,
            "version": version, "status": status, "late": late, "reason": reason,
            "clinical_status": found.clinical_status, "flag": found.flag}


def reads_card(data: EntryIn) -> bool:
    """Does :func:`check` read the card's entries for ``data`` (a weight or height for the BMI, a
    primary diagnosis of an encounter)? Entries held back to be written together must be written
    before, so it sees them."""
    if isinstance(data, IndicatorIn):
        return data.code in vitals.BMI_PARTS
    return (isinstance(data, DiagnosisIn) and data.rank == "primary" and data.encounter_id is not None
            and data.verification != "refuted")


async def record(tx: Transaction, patient_id: UUID, data: EntryIn, *, by: Author,
                 late_after: timedelta, audit: Audit, patient: tuple[str, Any] | None = None) -> Entry:
    now = utcnow()
    pinfl, found = await check(tx, patient_id, data, now, patient=patient)
    row = new_row(patient_id, data, found, by, now, entry_id=None, version=1,
                  late=now - data.performed_at > late_after)
    await write(tx, pinfl, [row], by, audit)
    return to_entry(row)


async def write(tx: Transaction, pinfl: str, rows: Sequence[dict[str, Any]], by: Author,
                audit: Audit) -> None:
    """Insert new entries' ``rows`` with one statement, their events with one more, and audit
    each (an examination's ``audit`` holds them all for one append: ``ctx.audit_batch``)."""
    if not rows:
        return
    await tx.execute(INSERT, rows[0] if len(rows) == 1 else list(rows))  # a list: one executemany
    await tx.publish_all([e for row in rows for e in entry_events.recorded(pinfl, row, by)])
    for row in rows:
        await audit(tx, f"medcard.{row['kind']}/record", patient=pinfl, object=str(row["entry_id"]))


E = TypeVar("E", bound=Entry)


def to_entry(row: Any) -> Entry:
    return entry_as(Entry, row)


def entry_as(cls: type[E], row: Any) -> E:
    """A row of ``entries`` (or the dict written to it) as ``cls``, an :class:`Entry` or subclass."""
    m = row if isinstance(row, dict) else row._mapping
    return cls(id=m["entry_id"], version_id=m["id"], version=m["version"], status=m["status"],
                 patient_id=m["patient_id"], kind=m["kind"], code=m["code"], data=m["data"],
                 performed_at=m["performed_at"], recorded_at=m["recorded_at"], author=m["author"],
                 role=m["role"], facility=m["facility"], encounter_id=m["encounter_id"], late=m["late"],
                 reason=m["reason"])


_COLUMNS = ("entry_id", "id", "version", "status", "patient_id", "kind", "code", "data", "performed_at",
            "recorded_at", "author", "role", "facility", "encounter_id", "late", "reason")


def entries_as(cls: type[E], rows: Sequence[Any]) -> list[E]:
    """Rows of one select of ``entries`` as ``cls``. A page of the card is the hottest read: the
    columns' places are looked up once for the page, and reading by place costs a third of
    reading by name."""
    if not rows:
        return []
    fields = rows[0]._fields
    e, i, v, s, p, k, c, d, pa, ra, a, ro, f, en, la, re = (fields.index(n) for n in _COLUMNS)
    return [cls(id=r[e], version_id=r[i], version=r[v], status=r[s], patient_id=r[p], kind=r[k], code=r[c],
                data=r[d], performed_at=r[pa], recorded_at=r[ra], author=r[a], role=r[ro], facility=r[f],
                encounter_id=r[en], late=r[la], reason=r[re]) for r in rows]
