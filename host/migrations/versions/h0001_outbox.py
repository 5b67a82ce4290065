"""The outbox, the consumers' inbox and parked deliveries.

Revision ID: h0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "h0001"
down_revision = None
branch_labels = ("host",)
depends_on = None

seq_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "shifo_outbox",
        sa.Column("seq", seq_type, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("patient", sa.String(14)),
        sa.Column("facility", sa.String(64)),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("delivered_at", ts),
    )
    op.create_index("ix_shifo_outbox_pending", "shifo_outbox", ["seq"],
                    postgresql_where=sa.text("delivered_at IS NULL"),
                    sqlite_where=sa.text("delivered_at IS NULL"))
    op.create_index("ix_shifo_outbox_patient", "shifo_outbox", ["patient", "seq"])
    op.create_table(
        "shifo_inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.Uuid, primary_key=True),
        sa.Column("processed_at", ts, nullable=False),
    )
    op.create_table(
        "shifo_delivery_failures",
        sa.Column("seq", seq_type, sa.ForeignKey("shifo_outbox.seq"), primary_key=True),
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("next_attempt_at", ts, nullable=False),
        sa.Column("parked", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("shifo_delivery_failures")
    op.drop_table("shifo_inbox")
    op.drop_index("ix_shifo_outbox_patient", "shifo_outbox")
    op.drop_index("ix_shifo_outbox_pending", "shifo_outbox")
    op.drop_table("shifo_outbox")
