"""The polyclinic's tables: a doctor's slots, outpatient visits, the card entries attached to a
visit (a mirror of the card, filled from events) and referrals / orders.

A slot is booked by a conditional UPDATE (``WHERE status = 'free'``), so two bookings of one slot
can never both succeed; ``(facility, doctor, starts_at)`` is unique so a slot exists only once.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, UniqueConstraint, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB

from ports.sql import UtcDateTime

metadata = MetaData()
Json = JSON().with_variant(JSONB(), "postgresql")

slots = Table(
    "polyclinic_slots",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("facility", String(64), nullable=False),
    Column("doctor", Uuid, nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # free | booked | checked_in | no_show
    Column("patient_id", Uuid),
    Column("pinfl", String(14)),
    Column("booked_at", UtcDateTime),
    Column("visit_id", Uuid),
    UniqueConstraint("facility", "doctor", "starts_at", name="uq_polyclinic_slot"),
)

visits = Table(
    "polyclinic_visits",
    metadata,
    Column("id", Uuid, primary_key=True),  # also the card's encounter_id
    Column("facility", String(64), nullable=False),
    Column("patient_id", Uuid, nullable=False),
    Column("pinfl", String(14), nullable=False),
    Column("doctor", Uuid, nullable=False),
    Column("slot_id", Uuid, unique=True),
    Column("status", String(16), nullable=False),  # open | closed
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("closed_by", Uuid),
    Column("final_diagnosis", String(8)),
)
Index("ix_polyclinic_visits_patient", visits.c.pinfl, visits.c.facility, visits.c.status)
_OPEN = text("status = 'open'")
Index("uq_polyclinic_visits_open", visits.c.facility, visits.c.pinfl, unique=True,  # migration p0003
      sqlite_where=_OPEN, postgresql_where=_OPEN)

visit_entries = Table(
    "polyclinic_visit_entries",
    metadata,
    Column("visit_id", Uuid, primary_key=True),
    Column("entry_id", Uuid, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("performed_at", UtcDateTime, nullable=False),
    Column("status", String(24), nullable=False),  # current | entered_in_error
    Column("summary", Json, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),  # the entry version of the content
)
Index("ix_polyclinic_visit_entries_entry", visit_entries.c.entry_id)

# the newest mark (entered in error, cancelled) of each mirrored record, kept even before the
# record itself arrives: see ports.projection
entry_marks = Table(
    "polyclinic_entry_marks",
    metadata,
    Column("record_id", Uuid, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("status", String(24), nullable=False),
    Column("patch", Json, nullable=False),
)

referrals = Table(
    "polyclinic_referrals",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("visit_id", Uuid, nullable=False),
    Column("facility", String(64), nullable=False),
    Column("pinfl", String(14), nullable=False),
    Column("kind", String(16), nullable=False),  # hospital | lab | instrumental
    Column("code", String(64)),  # lab: LOINC or test name; instrumental: modality
    Column("to_facility", String(64)),  # hospital referrals
    Column("diagnosis", String(8)),
    Column("reason", String(500), nullable=False),
    Column("status", String(16), nullable=False),  # open | closed
    Column("created_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("result_entry_id", Uuid),
)
Index("ix_polyclinic_referrals_open", referrals.c.pinfl, referrals.c.kind, referrals.c.status)
