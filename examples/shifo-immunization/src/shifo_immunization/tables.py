"""The module's one table (migrations/i0001_doses.py creates it)."""

from __future__ import annotations

import sqlalchemy as sa

from ports.sql import UtcDateTime

metadata = sa.MetaData()

doses = sa.Table(
    "immunization_doses", metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("facility", sa.String(64), nullable=False),
    sa.Column("patient_id", sa.Uuid, nullable=False),
    sa.Column("pinfl", sa.String(14), nullable=False),
    sa.Column("vaccine", sa.String(16), nullable=False),
    sa.Column("dose_number", sa.Integer, nullable=False),
    sa.Column("given_on", sa.Date, nullable=False),
    sa.Column("lot", sa.String(40), nullable=False),
    sa.Column("recorded_by", sa.Uuid, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
)
