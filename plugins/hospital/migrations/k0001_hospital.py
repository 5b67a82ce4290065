"""Wards, beds, pending admissions, stays, transfers and attached card entries.

Revision ID: k0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "k0001"
down_revision = None
branch_labels = ("hospital",)
depends_on = ("h0001", "medcard")  # the host's first revision and the medical card's branch

ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hospital_wards",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("profile", sa.String(100), nullable=False),
        sa.UniqueConstraint("facility", "name", name="uq_hospital_ward_name"),
    )
    op.create_table(
        "hospital_beds",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("ward_id", sa.Uuid, nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("stay_id", sa.Uuid, unique=True),
        sa.UniqueConstraint("ward_id", "label", name="uq_hospital_bed_label"),
    )
    op.create_table(
        "hospital_pending",
        sa.Column("referral_id", sa.Uuid, primary_key=True),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("from_facility", sa.String(64)),
        sa.Column("patient_id", sa.Uuid, nullable=False),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("diagnosis", sa.String(8)),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("received_at", ts, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stay_id", sa.Uuid),
    )
    op.create_index("ix_hospital_pending_facility", "hospital_pending", ["facility", "status"])
    op.create_table(
        "hospital_stays",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.Uuid, nullable=False),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("referral_id", sa.Uuid, unique=True),
        sa.Column("emergency", sa.Boolean, nullable=False),
        sa.Column("admission_diagnosis", sa.String(8), nullable=False),
        sa.Column("ward_id", sa.Uuid, nullable=False),
        sa.Column("bed_id", sa.Uuid, nullable=False),
        sa.Column("admitted_at", ts, nullable=False),
        sa.Column("admitted_by", sa.Uuid, nullable=False),
        sa.Column("discharged_at", ts),
        sa.Column("discharged_by", sa.Uuid),
        sa.Column("discharge_diagnosis", sa.String(8)),
        sa.Column("outcome", sa.String(32)),
        sa.Column("summary", sa.String(10_000)),
    )
    op.create_index("ix_hospital_stays_patient", "hospital_stays", ["pinfl", "facility", "status"])
    op.create_table(
        "hospital_transfers",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("stay_id", sa.Uuid, nullable=False, index=True),
        sa.Column("from_ward", sa.Uuid, nullable=False),
        sa.Column("from_bed", sa.Uuid, nullable=False),
        sa.Column("to_ward", sa.Uuid, nullable=False),
        sa.Column("to_bed", sa.Uuid, nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.Column("by", sa.Uuid, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
    )
    op.create_table(
        "hospital_stay_entries",
        sa.Column("stay_id", sa.Uuid, primary_key=True),
        sa.Column("entry_id", sa.Uuid, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("performed_at", ts, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("summary", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hospital_stay_entries")
    op.drop_table("hospital_transfers")
    op.drop_index("ix_hospital_stays_patient", "hospital_stays")
    op.drop_table("hospital_stays")
    op.drop_index("ix_hospital_pending_facility", "hospital_pending")
    op.drop_table("hospital_pending")
    op.drop_table("hospital_beds")
    op.drop_table("hospital_wards")
