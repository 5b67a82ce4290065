"""The hospital's tables: wards and beds per facility, pending admissions (from referrals), stays,
their transfers, and the card entries attached to a stay (a mirror filled from events).

A bed is taken by a conditional UPDATE (``WHERE stay_id IS NULL``) and ``stay_id`` is unique, so a
bed never holds two patients and a stay never holds two beds, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, MetaData, String, Table, UniqueConstraint, Uuid, text

from ports.encounter_card import entry_tables
from ports.encounters import Encounters
from ports.sql import UtcDateTime

metadata = MetaData()

wards = Table(
    "hospital_wards",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("facility", String(64), nullable=False),
    Column("name", String(100), nullable=False),
    Column("profile", String(100), nullable=False),
    UniqueConstraint("facility", "name", name="uq_hospital_ward_name"),
)

beds = Table(
    "hospital_beds",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("ward_id", Uuid, nullable=False),
    Column("facility", String(64), nullable=False),
    Column("label", String(32), nullable=False),
    Column("stay_id", Uuid, unique=True),  # the stay occupying it, NULL when free
    UniqueConstraint("ward_id", "label", name="uq_hospital_bed_label"),
)

pending = Table(
    "hospital_pending",
    metadata,
    Column("referral_id", Uuid, primary_key=True),
    Column("facility", String(64), nullable=False),  # the hospital referred to
    Column("from_facility", String(64)),
    Column("patient_id", Uuid, nullable=False),
    Column("pinfl", String(14), nullable=False),
    Column("diagnosis", String(8)),
    Column("reason", String(500), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # pending | admitted
    Column("stay_id", Uuid),
)
Index("ix_hospital_pending_facility", pending.c.facility, pending.c.status)

stays = Table(
    "hospital_stays",
    metadata,
    Column("id", Uuid, primary_key=True),  # also the card's encounter_id
    Column("facility", String(64), nullable=False),
    Column("patient_id", Uuid, nullable=False),
    Column("pinfl", String(14), nullable=False),
    Column("status", String(16), nullable=False),  # admitted | discharged
    Column("referral_id", Uuid, unique=True),
    Column("emergency", Boolean, nullable=False),
    Column("admission_diagnosis", String(8), nullable=False),
    Column("ward_id", Uuid, nullable=False),
    Column("bed_id", Uuid, nullable=False),
    Column("admitted_at", UtcDateTime, nullable=False),
    Column("admitted_by", Uuid, nullable=False),
    Column("discharged_at", UtcDateTime),
    Column("discharged_by", Uuid),
    Column("discharge_diagnosis", String(8)),
    Column("outcome", String(32)),
    Column("summary", String(10_000)),
)
Index("ix_hospital_stays_patient", stays.c.pinfl, stays.c.facility, stays.c.status)
_ADMITTED = text("status = 'admitted'")
Index("uq_hospital_stays_admitted", stays.c.facility, stays.c.pinfl, unique=True,  # migration k0002
      sqlite_where=_ADMITTED, postgresql_where=_ADMITTED)

transfers = Table(
    "hospital_transfers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("stay_id", Uuid, nullable=False, index=True),
    Column("from_ward", Uuid, nullable=False),
    Column("from_bed", Uuid, nullable=False),
    Column("to_ward", Uuid, nullable=False),
    Column("to_bed", Uuid, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("by", Uuid, nullable=False),
    Column("reason", String(500), nullable=False),
)

stay_entries, entry_marks = entry_tables(metadata, "hospital", "stay")

#: the stays as encounters (:mod:`ports.encounters`): card entries join a stay that was admitted
#: when they were recorded; a prescription also one discharged earlier that day (discharge
#: prescriptions)
ENCOUNTERS = Encounters(module="hospital", noun="stay", table=stays, opened="admitted_at",
                        closed="discharged_at", entries=stay_entries, marks=entry_marks, discharge_day=True)
