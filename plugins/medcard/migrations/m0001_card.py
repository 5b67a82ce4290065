"""Patients and card entries.

Revision ID: m0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "m0001"
down_revision = None
branch_labels = ("medcard",)
depends_on = "h0001"

ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "medcard_patients",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("pinfl", sa.String(14), nullable=False, unique=True),
        sa.Column("surname", sa.String(100), nullable=False),
        sa.Column("given_name", sa.String(100), nullable=False),
        sa.Column("patronymic", sa.String(100)),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("sex", sa.String(6), nullable=False),
        sa.Column("registered_at", ts, nullable=False),
        sa.Column("registered_by", sa.Uuid),
        sa.Column("facility", sa.String(64)),
    )
    op.create_index("ix_medcard_patients_name", "medcard_patients", ["surname", "given_name", "birth_date"])
    op.create_table(
        "medcard_entries",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("patient_id", sa.Uuid, sa.ForeignKey("medcard_patients.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("data", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("performed_at", ts, nullable=False),
        sa.Column("recorded_at", ts, nullable=False),
        sa.Column("author", sa.Uuid, nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("encounter_id", sa.Uuid),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
    )
    op.create_index("ix_medcard_entries_timeline", "medcard_entries", ["patient_id", "performed_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_medcard_entries_timeline", "medcard_entries")
    op.drop_table("medcard_entries")
    op.drop_index("ix_medcard_patients_name", "medcard_patients")
    op.drop_table("medcard_patients")
