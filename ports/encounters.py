"""The encounter kit: what the polyclinic's visits and the hospital's stays share, written once so
the two modules cannot drift apart. An *encounter* is a visit or a stay: a row with an id (the
card's ``encounter_id``), a facility, a patient's PINFL and a period (opened, closed or NULL).

**The time rule.** A card entry joins the encounter that was open when the entry was *recorded*
(its event's ``occurred_at``, the card's clock): the encounter it names, if that one was open
then, else the patient's encounter at the facility where it was recorded. Neither the relay's
delivery time nor the clinical ``performed_at`` moves it, so a closed encounter takes no new
entries (an entry performed or recorded after the close stays on the patient's card only), an
entry recorded just before the close lands whenever it is delivered, and the result depends only
on the events. The copies it already holds follow the card's corrections and marks
(:mod:`ports.projection`). A prescription joins the encounter open at its facility when it was
issued; with ``discharge_day`` also one closed earlier that day (the hospital's discharge
prescriptions). :mod:`host.pluginapi` registers the handlers (``encounter_handlers``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Table, bindparam, select

from core import events as ev
from core.errors import ValidationFailed
from ports.directory import SERVICE, PatientDirectory, PatientSummary
from ports.projection import Mirror, told
from ports.sql import DIALECTS, in_list
from ports.storage import Transaction, prepared

#: the event types of the kit's handlers: entry versions, their marks, prescriptions, cancellations
ENTRIES = (ev.EntryRecorded.event_type(), ev.EntryCorrected.event_type())
ERRORS = (ev.EntryEnteredInError.event_type(),)
ISSUED, CANCELLED = (ev.PrescriptionIssued.event_type(),), (ev.PrescriptionCancelled.event_type(),)


class Encounters:
    """One module's encounters (``table`` with ``id``, ``facility``, ``pinfl`` and the ``opened``
    and ``closed`` columns named) and their copies of card entries (``entries``, owner column
    ``<noun>_id``, see :func:`ports.encounter_card.entry_tables`) under the rule above."""

    def __init__(self, *, module: str, noun: str, table: Table, opened: str, closed: str,
                 entries: Table, marks: Table, discharge_day: bool = False) -> None:
        self.module, self.noun, self.table, self.entries = module, noun, table, entries
        self.owner = f"{noun}_id"
        self.mirror = Mirror(entries, self.owner, marks)
        self.discharge_day = discharge_day
        c, self.opened, self.closed = table.c, table.c[opened], table.c[closed]
        at = bindparam("at", type_=self.opened.type)
        open_then = (self.opened <= at) & (self.closed.is_(None) | (self.closed >= at))
        here = (c.pinfl == bindparam("pinfl")) & (c.facility == bindparam("facility"))
        latest = [self.opened.desc()]
        # built once and kept prepared: the relay runs these for every entry written anywhere
        self._named = prepared(select(c.id).where((c.id == bindparam("encounter_id")) & open_then))
        self._open_here = prepared(select(c.id).where(here & open_then).order_by(*latest).limit(1))
        self._begun_here = prepared(select(c.id, self.closed.label("closed")).where(
            here & (self.opened <= at)).order_by(*latest).limit(1))
        self._periods = {d: prepared(
            select(c.id, c.pinfl, c.facility, self.opened.label("opened"), self.closed.label("closed"))
            .where(in_list(c.pinfl, "pinfls", d), self.opened <= bindparam("last"),
                   self.closed.is_(None) | (self.closed >= bindparam("first")))
            .order_by(*latest)) for d in DIALECTS}

    async def owner_of(self, tx: Transaction, event: ev.EntryRecorded | ev.EntryCorrected) -> UUID | None:
        """The encounter an entry's version joins (None: none), by the rule above."""
        at = event.occurred_at
        if event.encounter_id is not None:
            found = await tx.execute(self._named, {"encounter_id": event.encounter_id, "at": at})
        else:
            found = await tx.execute(self._open_here, {"pinfl": event.patient, "facility": event.facility,
                                                       "at": at})
        row = found.first()
        return None if row is None else row.id

    async def owners_of(self, tx: Transaction, events: list[ev.EntryRecorded]) -> dict[UUID, UUID]:
        """:meth:`owner_of` for many entries that name no encounter, in one query: entry -> owner."""
        if not events:
            return {}
        times = [e.occurred_at for e in events]
        rows = (await tx.execute(self._periods[tx.dialect], {
            "pinfls": sorted({e.patient for e in events}), "first": min(times), "last": max(times)})).all()
        found = {}
        for e in events:
            at = e.occurred_at
            owner = next((r.id for r in rows if r.pinfl == e.patient and r.facility == e.facility
                          and r.opened <= at and (r.closed is None or r.closed >= at)), None)
            if owner is not None:
                found[e.entry_id] = owner
        return found

    async def open_at(self, tx: Transaction, pinfl: str, facility: str, at: datetime) -> UUID | None:
        """The patient's encounter at ``facility`` open at ``at`` (with ``discharge_day``: or
        closed later that same day)."""
        row = (await tx.execute(self._begun_here, {"pinfl": pinfl, "facility": facility, "at": at})).first()
        return None if row is None else self._owning(row.id, row.closed, at)

    def _owning(self, encounter: UUID, closed: datetime | None, at: datetime) -> UUID | None:
        """The encounter begun last before ``at`` takes what happened at ``at`` if it was open
        then (with ``discharge_day``: or closed earlier that day)."""
        if closed is None or closed >= at:
            return encounter
        return encounter if self.discharge_day and closed.date() == at.date() else None

    async def on_entries(self, events: Sequence[ev.Event], tx: Transaction) -> None:
        """Card entry versions join their encounter and every encounter already holding the entry,
        unless a newer version is there (a retried delivery arrives after newer ones)."""
        await self.mirror.entries(tx, events, self.owners_of, self.owner_of)

    async def on_mark(self, event: ev.Event, tx: Transaction) -> None:
        """Entered in error, or a prescription cancelled: a mark over the record's older versions
        wherever it is attached, kept even if none of them arrived yet."""
        await self.mirror.apply(tx, [(told(event), None)])

    async def on_issued(self, event: ev.Event, tx: Transaction) -> None:
        assert isinstance(event, ev.PrescriptionIssued)
        if event.patient and event.facility:
            owner = await self.open_at(tx, event.patient, event.facility, event.occurred_at)
            await self.mirror.apply(tx, [(told(event), owner)])

    async def on_issued_all(self, events: Sequence[ev.Event], tx: Transaction) -> None:
        """:meth:`on_issued` for a batch: the encounters of all its patients in one query (the
        relay runs this for every prescription issued anywhere), then the versions in order. The
        query reads only periods reaching into the batch's span; that finds the same encounter as
        :meth:`open_at` because a patient's encounters at one facility never overlap (one open at
        a time, by the modules' unique indexes), as :meth:`owners_of` relies on for entries."""
        issued = [e for e in events if isinstance(e, ev.PrescriptionIssued) and e.patient and e.facility]
        if not issued:
            return
        times = [e.occurred_at for e in issued]
        first = min(times)
        if self.discharge_day:  # a stay closed earlier on an issue's day still takes it
            first = first.replace(hour=0, minute=0, second=0, microsecond=0)
        rows = (await tx.execute(self._periods[tx.dialect], {
            "pinfls": sorted({e.patient for e in issued}), "first": first, "last": max(times)})).all()
        seen = []
        for e in issued:  # rows newest first: the encounter begun last before the issue decides
            at = e.occurred_at
            row = next((r for r in rows if r.pinfl == e.patient and r.facility == e.facility
                        and r.opened <= at), None)
            seen.append((told(e), None if row is None else self._owning(row.id, row.closed, at)))
        await self.mirror.apply(tx, seen)


async def find_patient(services: dict[str, Any], tx: Transaction, patient_id: UUID) -> PatientSummary:
    """The registered patient a request body names (through the card's patient directory), or a
    422 naming the field ``patient_id``."""
    directory: PatientDirectory = services[SERVICE]
    patient = await directory.by_id(patient_id, tx)
    if patient is None:
        detail = f"no patient {patient_id} is registered on the medical card"
        raise ValidationFailed(detail, errors=[{"field": "patient_id", "message": detail}])
    return patient
