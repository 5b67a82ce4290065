"""What the patient's live stream shows: their outbox rows, read by position and rendered for the app.

The outbox keeps every committed event (delivered rows are not deleted), so it is a durable log per
patient (read through the storage port, ``Outbox.patient_events``) and ``seq`` is a position a
client can resume from. Only events about the patient's own record are shown, each as a plain JSON
object: the staff ids an event carries (author, prescriber, dispenser ...) stay inside the platform.
Which event types are shown, and the record each is about, the enabled modules say (hook
``shifo_patient_feed``): the host names none.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec

from core.events import Event, decode_event
from host.pluginapi import FeedEvent
from ports.storage import Storage

log = logging.getLogger("shifo.patient.stream")

_INTERNAL = frozenset({"type", "id", "version", "occurred_at", "patient", "patient_id", "author",
                       "prescriber", "by", "doctor", "closed_by", "requested_by"})


class FeedItem(msgspec.Struct, frozen=True):
    seq: int
    event_type: str
    data: str  # the rendered JSON


def render(event: Event, shown: FeedEvent | None) -> dict[str, Any]:
    """The patient-facing view of ``event``: kind, when, status where it has one, ids, summary."""
    event_type = event.event_type()
    fields = msgspec.to_builtins(event)
    view: dict[str, Any] = {"kind": shown.kind if shown else "other", "type": event_type,
                            "event_id": fields["id"], "at": fields["occurred_at"]}
    if shown is not None and shown.status is not None:
        view["status"] = shown.status
    for name, value in fields.items():
        if name not in _INTERNAL:
            view["entry_kind" if name == "kind" else name] = value
    return view


async def read(storage: Storage, pinfl: str, after: int, upto: int, limit: int, *,
               feed: Mapping[str, FeedEvent]) -> tuple[list[FeedItem], int]:
    """The patient's events of the types ``feed`` shows (``Runtime.feed``) with ``after < seq <=
    upto`` in ``seq`` order (at most ``limit``), and the position read up to: ``upto``, or the last
    row's ``seq`` when there may be more. Read from the durable record (``Outbox.patient_events``)."""
    rows = await storage.outbox.patient_events(pinfl, after, upto, list(feed), limit)
    items = []
    for seq, event_type, payload in rows:
        try:
            event = decode_event(event_type, payload)
        except Exception:  # a type this process cannot read (mid rolling upgrade): skip, keep going
            log.warning("cannot render outbox row %s (%s) for the patient stream", seq, event_type)
            continue
        view = render(event, feed.get(event_type))
        items.append(FeedItem(seq, event_type, msgspec.json.encode(view).decode()))
    return items, (rows[-1][0] if len(rows) == limit else upto)
