"""The operator's tables (host migration ``h0004``): licences, calendar overrides, installations
with their history, grant certifications and access review campaigns."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, ForeignKey, Index, MetaData, String, Table, Uuid

from ports.sql import UtcDateTime

metadata = MetaData()

facility_licences = Table(
    "facility_licences",
    metadata,
    Column("facility", String(64), primary_key=True),
    Column("licence_number", String(100), nullable=False),
    Column("licence_valid_until", Date),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Days the decree calendar does not know yet: ``working`` true makes a working day, false a day off.
calendar_overrides = Table(
    "calendar_overrides",
    metadata,
    Column("day", Date, primary_key=True),
    Column("working", Boolean, nullable=False),
    Column("reason", String(300), nullable=False),
    Column("set_by", String(100), nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
)

installations = Table(
    "installations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("facility", String(64), nullable=False),
    Column("module", String(64), nullable=False),
    Column("applied_on", Date, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("state", String(16), nullable=False),  # applied | in_progress | installed | rejected | disabled
    Column("reason", String(500)),
    Column("installed_on", Date),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("updated_by", String(100), nullable=False),
)
Index("ix_installations_state", installations.c.state, installations.c.due_on)

installation_changes = Table(
    "installation_changes",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("installation", Uuid, ForeignKey("installations.id"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(500)),
    Column("at", UtcDateTime, nullable=False),
    Column("by", String(100), nullable=False),
)
Index("ix_installation_changes", installation_changes.c.installation)

grant_certifications = Table(
    "grant_certifications",
    metadata,
    Column("grant", Uuid, primary_key=True),
    Column("account", Uuid, nullable=False),
    Column("certified_at", UtcDateTime, nullable=False),
    Column("certified_by", String(100), nullable=False),
)

review_campaigns = Table(
    "review_campaigns",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("title", String(300), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("opened_by", String(100), nullable=False),
    Column("closed_at", UtcDateTime),
)

review_decisions = Table(
    "review_decisions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("campaign", Uuid, ForeignKey("review_campaigns.id"), nullable=False),
    Column("account", Uuid, nullable=False),
    Column("grant", Uuid, nullable=False),
    Column("decision", String(16), nullable=False),  # certify | revoke
    Column("comment", String(500), nullable=False),
    Column("by", String(100), nullable=False),
    Column("at", UtcDateTime, nullable=False),
)
Index("ix_review_decisions_campaign", review_decisions.c.campaign)
