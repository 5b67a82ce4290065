"""What the patient's live stream shows: their outbox rows, read by position and rendered for the app.

The outbox keeps every committed event (delivered rows are not deleted), so it is a durable log per
patient (index ``(patient, seq)``) and ``seq`` is a position a client can resume from. Only events
about the patient's own record are shown, each as a plain JSON object: the staff ids an event carries
(author, prescriber, dispenser ...) stay inside the platform.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from sqlalchemy import select

from core.events import Event, decode_event
from host.outbox_horizon import OUTBOX
from ports.storage import Storage

log = logging.getLogger("shifo.patient.stream")

KINDS: dict[str, str] = {
    "medcard.entry_recorded": "entry",
    "medcard.entry_corrected": "entry",
    "medcard.entry_entered_in_error": "entry",
    "erecipe.issued": "prescription",
    "erecipe.cancelled": "prescription",
    "erecipe.dispensed": "prescription",
    "erecipe.expired": "prescription",
    "polyclinic.visit_opened": "visit",
    "polyclinic.visit_closed": "visit",
    "hospital.admitted": "stay",
    "hospital.transferred": "stay",
    "hospital.discharged": "stay",
}
"""The event types a patient sees, with the kind of record each one is about."""

# the status a record has after the event (a dispense event carries its own)
_STATUS = {"erecipe.issued": "issued", "erecipe.cancelled": "cancelled", "erecipe.expired": "expired",
           "polyclinic.visit_opened": "open", "polyclinic.visit_closed": "closed",
           "hospital.admitted": "admitted", "hospital.transferred": "transferred",
           "hospital.discharged": "discharged", "medcard.entry_entered_in_error": "entered_in_error"}
_INTERNAL = frozenset({"type", "id", "version", "occurred_at", "patient", "patient_id", "author",
                       "prescriber", "by", "doctor", "closed_by", "requested_by"})


class FeedItem(msgspec.Struct, frozen=True):
    seq: int
    event_type: str
    data: str  # the rendered JSON


def render(event: Event) -> dict[str, Any]:
    """The patient-facing view of ``event``: kind, when, status where it has one, ids, summary."""
    event_type = event.event_type()
    fields = msgspec.to_builtins(event)
    view: dict[str, Any] = {"kind": KINDS.get(event_type, "other"), "type": event_type,
                            "event_id": fields["id"], "at": fields["occurred_at"]}
    if event_type in _STATUS:
        view["status"] = _STATUS[event_type]
    for name, value in fields.items():
        if name not in _INTERNAL:
            view["entry_kind" if name == "kind" else name] = value
    return view


async def read(storage: Storage, pinfl: str, after: int, upto: int, limit: int
               ) -> tuple[list[FeedItem], int]:
    """The patient's shown events with ``after < seq <= upto`` in ``seq`` order (at most ``limit``),
    and the position read up to: ``upto``, or the last row's ``seq`` when there may be more."""
    o = OUTBOX.c
    stmt = (select(o.seq, o.event_type, o.payload)
            .where(o.patient == pinfl, o.seq > after, o.seq <= upto, o.event_type.in_(list(KINDS)))
            .order_by(o.seq).limit(limit))
    async with storage.transaction(readonly=True) as tx:
        rows = (await tx.execute(stmt)).all()
    items = []
    for row in rows:
        try:
            event = decode_event(row.event_type, bytes(row.payload))
        except Exception:  # a type this process cannot read (mid rolling upgrade): skip, keep going
            log.warning("cannot render outbox row %s (%s) for the patient stream", row.seq, row.event_type)
            continue
        items.append(FeedItem(int(row.seq), row.event_type, msgspec.json.encode(render(event)).decode()))
    return items, (int(rows[-1].seq) if len(rows) == limit else upto)
