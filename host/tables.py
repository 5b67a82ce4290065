"""The host's own tables: facilities and which modules are installed at each."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, MetaData, String, Table

from ports.sql import UtcDateTime

metadata = MetaData()

facilities = Table(
    "facilities",
    metadata,
    Column("id", String(64), primary_key=True),  # the facility's code, used as the Casbin domain
    Column("name", String(300), nullable=False),
    Column("kind", String(32), nullable=False),  # polyclinic | hospital | pharmacy | ...
    Column("region", String(100), nullable=False),
    Column("tin", String(9)),
    Column("created_at", UtcDateTime, nullable=False),
)

facility_modules = Table(
    "facility_modules",
    metadata,
    Column("facility", String(64), ForeignKey("facilities.id"), primary_key=True),
    Column("module", String(64), primary_key=True),
    Column("enabled_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime),
)
