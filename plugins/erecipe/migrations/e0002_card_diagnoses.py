"""The card's diagnoses as erecipe sees them (projected from the card's entry events).

Revision ID: e0002
Revises: e0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "e0002"
down_revision = "e0001"
branch_labels = None
depends_on = None

ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "erecipe_card_diagnoses",
        sa.Column("entry_id", sa.Uuid, primary_key=True),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("code", sa.String(16)),
        sa.Column("code_version", sa.Integer, nullable=False),
        sa.Column("verification", sa.String(16)),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("entry_version", sa.Integer, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
    )
    op.create_index("ix_erecipe_card_diagnoses_code", "erecipe_card_diagnoses", ["pinfl", "code"])


def downgrade() -> None:
    op.drop_table("erecipe_card_diagnoses")
