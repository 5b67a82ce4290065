"""The polyclinic's tables: a doctor's slots, outpatient visits, the card entries attached to a
visit (a mirror of the card, filled from events, see :data:`ENCOUNTERS`) and referrals / orders.

A slot is booked by a conditional UPDATE (``WHERE status = 'free'``), so two bookings of one slot
can never both succeed; ``(facility, doctor, starts_at)`` is unique so a slot exists only once.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, UniqueConstraint, Uuid, text

from ports.encounter_card import entry_tables
from ports.encounters import Encounters
from ports.sql import UtcDateTime

metadata = MetaData()

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

visit_entries, entry_marks = entry_tables(metadata, "polyclinic", "visit")

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

#: the visits as encounters (:mod:`ports.encounters`): card entries and prescriptions join a visit
#: that was open when they were recorded or issued
ENCOUNTERS = Encounters(module="polyclinic", noun="visit", table=visits, opened="opened_at",
                        closed="closed_at", entries=visit_entries, marks=entry_marks)
