"""Slots, visits, attached card entries, referrals and orders.

Revision ID: p0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "p0001"
down_revision = None
branch_labels = ("polyclinic",)
depends_on = ("h0001", "medcard")  # the host's first revision and the medical card's branch

ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "polyclinic_slots",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("doctor", sa.Uuid, nullable=False),
        sa.Column("starts_at", ts, nullable=False),
        sa.Column("ends_at", ts, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("patient_id", sa.Uuid),
        sa.Column("pinfl", sa.String(14)),
        sa.Column("booked_at", ts),
        sa.Column("visit_id", sa.Uuid),
        sa.UniqueConstraint("facility", "doctor", "starts_at", name="uq_polyclinic_slot"),
    )
    op.create_table(
        "polyclinic_visits",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.Uuid, nullable=False),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("doctor", sa.Uuid, nullable=False),
        sa.Column("slot_id", sa.Uuid, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_at", ts, nullable=False),
        sa.Column("closed_at", ts),
        sa.Column("closed_by", sa.Uuid),
        sa.Column("final_diagnosis", sa.String(8)),
    )
    op.create_index("ix_polyclinic_visits_patient", "polyclinic_visits", ["pinfl", "facility", "status"])
    op.create_table(
        "polyclinic_visit_entries",
        sa.Column("visit_id", sa.Uuid, primary_key=True),
        sa.Column("entry_id", sa.Uuid, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("performed_at", ts, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("summary", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    )
    op.create_table(
        "polyclinic_referrals",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("visit_id", sa.Uuid, nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("code", sa.String(64)),
        sa.Column("to_facility", sa.String(64)),
        sa.Column("diagnosis", sa.String(8)),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("closed_at", ts),
        sa.Column("result_entry_id", sa.Uuid),
    )
    op.create_index("ix_polyclinic_referrals_open", "polyclinic_referrals", ["pinfl", "kind", "status"])


def downgrade() -> None:
    op.drop_index("ix_polyclinic_referrals_open", "polyclinic_referrals")
    op.drop_table("polyclinic_referrals")
    op.drop_table("polyclinic_visit_entries")
    op.drop_index("ix_polyclinic_visits_patient", "polyclinic_visits")
    op.drop_table("polyclinic_visits")
    op.drop_table("polyclinic_slots")
