"""The probe's one table: an event handled, its outbox seq and the process and transaction, in handling order.

Revision ID: probe0001
Revises:
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "probe0001"
down_revision = None
branch_labels = ("probe",)
depends_on = "h0001"


def upgrade() -> None:
    op.create_table(
        "probe_handled",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("patient", sa.String(14)),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("tx", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("probe_handled")
