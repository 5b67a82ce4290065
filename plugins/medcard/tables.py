"""The medical card's tables: one row per patient, one row per version of each entry.

An entry is never updated in place except for its ``status`` (current -> superseded when a new
version arrives); ``entry_id`` ties the versions of one entry together.
"""

from __future__ import annotations

from sqlalchemy import (
                        JSON,
                        Boolean,
                        Column,
                        Date,
                        Float,
                        ForeignKey,
                        Index,
                        Integer,
                        MetaData,
                        String,
                        Table,
                        UniqueConstraint,
                        Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

from ports.sql import UtcDateTime

metadata = MetaData()
Json = JSON().with_variant(JSONB(), "postgresql")

patients = Table(
    "medcard_patients",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("pinfl", String(14), nullable=False, unique=True),
    Column("surname", String(100), nullable=False),
    Column("given_name", String(100), nullable=False),
    Column("patronymic", String(100)),
    Column("birth_date", Date, nullable=False),
    Column("sex", String(6), nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("registered_by", Uuid),
    Column("facility", String(64)),
    Column("surname_key", String(100)),  # names.search_key(): case and apostrophe variants folded
    Column("given_key", String(100)),
)
Index("ix_medcard_patients_name", patients.c.surname, patients.c.given_name, patients.c.birth_date)
Index("ix_medcard_patients_key", patients.c.surname_key, patients.c.birth_date)

entries = Table(
    "medcard_entries",
    metadata,
    Column("id", Uuid, primary_key=True),  # this version's id
    Column("entry_id", Uuid, nullable=False),  # the entry's id: the first version's id
    Column("patient_id", Uuid, ForeignKey("medcard_patients.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("code", String(64), nullable=False),
    Column("data", Json, nullable=False),
    Column("performed_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("author", Uuid, nullable=False),
    Column("role", String(32), nullable=False),
    Column("facility", String(64), nullable=False),
    Column("encounter_id", Uuid),
    Column("version", Integer, nullable=False),
    Column("status", String(24), nullable=False),  # current | superseded | entered_in_error
    Column("late", Boolean, nullable=False),
    Column("reason", String(500)),  # why this version replaced the previous one
    Column("clinical_status", String(24)),  # diagnosis: provisional|confirmed|refuted; lab: pending|final
    Column("flag", String(4)),  # lab: N, L, H, LL, HH
    UniqueConstraint("entry_id", "version", name="uq_medcard_entries_version"),
)
Index("ix_medcard_entries_timeline", entries.c.patient_id, entries.c.performed_at, entries.c.id)
Index("ix_medcard_entries_facility", entries.c.facility, entries.c.kind, entries.c.status)

# What the other modules record for the patient (prescriptions, visits, stays), projected from their
# events: one row per source record, its status following later events. Written only by the handler.
module_records = Table(
    "medcard_module_records",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("pinfl", String(14), nullable=False),
    Column("source", String(32), nullable=False),  # erecipe | polyclinic | hospital
    Column("kind", String(32), nullable=False),  # prescription | outpatient_visit | inpatient_stay
    Column("record_id", Uuid, nullable=False),  # the prescription, visit or stay id in its module
    Column("status", String(24), nullable=False),
    Column("summary", Json, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),  # when the record began (issued, opened, admitted)
    Column("updated_at", UtcDateTime, nullable=False),  # when the latest event applied occurred
    UniqueConstraint("source", "record_id", name="uq_medcard_module_records_source"),
)
Index("ix_medcard_module_records_patient", module_records.c.pinfl, module_records.c.kind,
      module_records.c.occurred_at)

# Critical-result alerts (alerts.py): one per critical lab entry, made by the card's consumer of
# medcard.critical_lab_value; acknowledged by a conditional UPDATE (status 'open' -> 'acknowledged').
alerts = Table(
    "medcard_alerts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("entry_id", Uuid, nullable=False, unique=True),  # the critical result: one alert each
    Column("pinfl", String(14), nullable=False),
    Column("patient_id", Uuid),
    Column("facility", String(64), nullable=False),
    Column("test", String(200), nullable=False),
    Column("loinc", String(16)),
    Column("value", Float, nullable=False),
    Column("unit", String(32)),
    Column("flag", String(4), nullable=False),
    Column("performed_at", UtcDateTime, nullable=False),
    Column("raised_at", UtcDateTime, nullable=False),  # when the result was recorded (the event's time)
    Column("assigned_to", Uuid, nullable=False),
    Column("assigned_by", String(16), nullable=False),  # why: see alert_events.Alert.assigned_by
    Column("status", String(16), nullable=False),  # open | acknowledged
    Column("escalated_at", UtcDateTime),
    Column("acknowledged_at", UtcDateTime),
    Column("acknowledged_by", Uuid),
    Column("note", String(2000)),
)
Index("ix_medcard_alerts_due", alerts.c.status, alerts.c.escalated_at, alerts.c.raised_at)
Index("ix_medcard_alerts_facility", alerts.c.facility, alerts.c.raised_at)

# Who an alert is addressed to: the assigned clinician, then everyone on duty when it escalated.
alert_recipients = Table(
    "medcard_alert_recipients",
    metadata,
    Column("alert_id", Uuid, primary_key=True),
    Column("account", Uuid, primary_key=True),
    Column("reason", String(16), nullable=False),  # assigned | escalated
    Column("added_at", UtcDateTime, nullable=False),
)
Index("ix_medcard_alert_recipients_account", alert_recipients.c.account)
