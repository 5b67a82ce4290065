"""Offline dispensing: each dispense says where it came from (online, or the offline journal) and
when an upload recorded it; offline dispenses the state did not allow become conflict records.

Revision ID: e0004
Revises: e0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "e0004"
down_revision = "e0003"
branch_labels = None
depends_on = None

ts = sa.DateTime(timezone=True)
json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("erecipe_dispenses") as batch:  # SQLite rebuilds; PostgreSQL alters
        batch.add_column(sa.Column("source", sa.String(8), nullable=False, server_default="online"))
        batch.add_column(sa.Column("recorded_at", ts))
    op.create_table(
        "erecipe_dispense_conflicts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("entry_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("prescription_id", sa.Uuid, sa.ForeignKey("erecipe_prescriptions.id"), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("pharmacist_id", sa.Uuid, nullable=False),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("dispensed_at", ts, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("entry", json, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("verification", json, nullable=False),
        sa.Column("recorded_at", ts, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolved_at", ts),
        sa.Column("resolved_by", sa.Uuid),
        sa.Column("resolution", sa.String(500)),
    )
    op.create_index("ix_erecipe_dispense_conflicts_open", "erecipe_dispense_conflicts",
                    ["facility", "status"])


def downgrade() -> None:
    op.drop_index("ix_erecipe_dispense_conflicts_open", "erecipe_dispense_conflicts")
    op.drop_table("erecipe_dispense_conflicts")
    with op.batch_alter_table("erecipe_dispenses") as batch:
        batch.drop_column("recorded_at")
        batch.drop_column("source")
