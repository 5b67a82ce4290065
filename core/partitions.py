"""Partitions: how events are split so that work can be shared and each patient's stay in order.

Every event belongs to one of :data:`PARTITIONS` partitions, chosen by its patient (an event without
a patient by its own id). All events of one patient share a partition, and each partition is
relayed and consumed by one process at a time, in commit order: that is how ``events of one patient
are handled in commit order`` survives several relays and several consumer processes.

The count is part of the wire contract (the outbox column, the bus subjects): changing it re-deals
patients to partitions, so it is fixed here rather than set per deployment.
"""

from __future__ import annotations

from uuid import UUID
from zlib import crc32

PARTITIONS = 16


def partition_of(patient: str | None, event_id: UUID) -> int:
    """The partition of an event of ``patient`` (or, without one, of the event ``event_id``)."""
    key = patient.encode() if patient else event_id.bytes
    return crc32(key) % PARTITIONS
