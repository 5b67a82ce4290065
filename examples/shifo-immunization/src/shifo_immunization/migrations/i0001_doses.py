"""Immunization doses: one row per dose given, never updated.

Revision ID: imm0001
Revises:
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "imm0001"
down_revision = None
branch_labels = ("immunization",)  # the module's own branch
depends_on = "h0001"  # the host's first revision


def upgrade() -> None:
    op.create_table(
        "immunization_doses",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.Uuid, nullable=False),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("vaccine", sa.String(16), nullable=False),
        sa.Column("dose_number", sa.Integer, nullable=False),
        sa.Column("given_on", sa.Date, nullable=False),
        sa.Column("lot", sa.String(40), nullable=False),
        sa.Column("recorded_by", sa.Uuid, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        # a dose of a vaccine is given once: a second record of it is a conflict (409)
        sa.UniqueConstraint("pinfl", "vaccine", "dose_number", name="uq_immunization_dose"),
    )
    op.create_index("ix_immunization_doses_pinfl", "immunization_doses", ["pinfl", "given_on"])


def downgrade() -> None:
    op.drop_index("ix_immunization_doses_pinfl", table_name="immunization_doses")
    op.drop_table("immunization_doses")
