"""Prescriptions, their lines, dispenses and state history.

Revision ID: e0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "e0001"
down_revision = None
branch_labels = ("erecipe",)
depends_on = ("h0001", "medcard")  # the host's first revision and the medical card's branch

ts = sa.DateTime(timezone=True)
json = sa.JSON().with_variant(JSONB(), "postgresql")
RX = "erecipe_prescriptions.id"


def upgrade() -> None:
    op.create_table(
        "erecipe_prescriptions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("number", sa.String(32), nullable=False, unique=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("patient_pinfl", sa.String(14), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("diagnosis", sa.String(16), nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("prescriber_id", sa.Uuid, nullable=False),
        sa.Column("prescriber_role", sa.String(32), nullable=False),
        sa.Column("partial", sa.Integer, nullable=False),
        sa.Column("content", json, nullable=False),
        sa.Column("canonical", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary),
        sa.Column("verification", json),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("issued_at", ts),
        sa.Column("valid_until", ts, nullable=False),
        sa.Column("cancel_reason", sa.String(500)),
        sa.Column("cancel_signature", sa.LargeBinary),
        sa.Column("cancel_verification", json),
    )
    op.create_index("ix_erecipe_patient", "erecipe_prescriptions", ["patient_pinfl", "status"])
    op.create_index("ix_erecipe_due", "erecipe_prescriptions", ["status", "valid_until"])
    op.create_table(
        "erecipe_lines",
        sa.Column("prescription_id", sa.Uuid, sa.ForeignKey(RX), primary_key=True),
        sa.Column("line", sa.Integer, primary_key=True),
        sa.Column("inn", sa.String(200), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("remaining", sa.Integer, nullable=False),
    )
    op.create_table(
        "erecipe_dispenses",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("prescription_id", sa.Uuid, sa.ForeignKey(RX), nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("pharmacist_id", sa.Uuid, nullable=False),
        sa.Column("items", json, nullable=False),
        sa.Column("canonical", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("verification", json, nullable=False),
        sa.Column("dispensed_at", ts, nullable=False),
    )
    op.create_index("ix_erecipe_dispenses_rx", "erecipe_dispenses", ["prescription_id"])
    op.create_table(
        "erecipe_history",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("prescription_id", sa.Uuid, sa.ForeignKey(RX), nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("by", sa.Uuid),
        sa.Column("reason", sa.String(500)),
        sa.Column("detail", json),
    )
    op.create_index("ix_erecipe_history_rx", "erecipe_history", ["prescription_id", "at"])


def downgrade() -> None:
    for table in ("erecipe_history", "erecipe_dispenses", "erecipe_lines", "erecipe_prescriptions"):
        op.drop_table(table)
