"""What other modules record for the patient: prescriptions, outpatient visits, inpatient stays.

Revision ID: m0003
Revises: m0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "m0003"
down_revision = "m0002"
branch_labels = None
depends_on = None

ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "medcard_module_records",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("record_id", sa.Uuid, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("summary", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("occurred_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.UniqueConstraint("source", "record_id", name="uq_medcard_module_records_source"),
    )
    op.create_index("ix_medcard_module_records_patient", "medcard_module_records",
                    ["pinfl", "kind", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_medcard_module_records_patient", "medcard_module_records")
    op.drop_table("medcard_module_records")
