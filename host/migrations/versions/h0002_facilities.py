"""Facilities and the modules installed at each.

Revision ID: h0002
Revises: h0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "h0002"
down_revision = "h0001"
branch_labels = None
depends_on = None

ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "facilities",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("region", sa.String(100), nullable=False),
        sa.Column("tin", sa.String(9)),
        sa.Column("created_at", ts, nullable=False),
    )
    op.create_table(
        "facility_modules",
        sa.Column("facility", sa.String(64), sa.ForeignKey("facilities.id"), primary_key=True),
        sa.Column("module", sa.String(64), primary_key=True),
        sa.Column("enabled_at", ts, nullable=False),
        sa.Column("disabled_at", ts),
    )


def downgrade() -> None:
    op.drop_table("facility_modules")
    op.drop_table("facilities")
