"""Critical-result alerts and their recipients.

Revision ID: m0004
Revises: m0003
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "m0004"
down_revision = "m0003"
branch_labels = None
depends_on = None

ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "medcard_alerts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("entry_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("pinfl", sa.String(14), nullable=False),
        sa.Column("patient_id", sa.Uuid),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("test", sa.String(200), nullable=False),
        sa.Column("loinc", sa.String(16)),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("unit", sa.String(32)),
        sa.Column("flag", sa.String(4), nullable=False),
        sa.Column("performed_at", ts, nullable=False),
        sa.Column("raised_at", ts, nullable=False),
        sa.Column("assigned_to", sa.Uuid, nullable=False),
        sa.Column("assigned_by", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("escalated_at", ts),
        sa.Column("acknowledged_at", ts),
        sa.Column("acknowledged_by", sa.Uuid),
        sa.Column("note", sa.String(2000)),
    )
    op.create_index("ix_medcard_alerts_due", "medcard_alerts", ["status", "escalated_at", "raised_at"])
    op.create_index("ix_medcard_alerts_facility", "medcard_alerts", ["facility", "raised_at"])
    op.create_table(
        "medcard_alert_recipients",
        sa.Column("alert_id", sa.Uuid, primary_key=True),
        sa.Column("account", sa.Uuid, primary_key=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("added_at", ts, nullable=False),
    )
    op.create_index("ix_medcard_alert_recipients_account", "medcard_alert_recipients", ["account"])


def downgrade() -> None:
    op.drop_index("ix_medcard_alert_recipients_account", "medcard_alert_recipients")
    op.drop_table("medcard_alert_recipients")
    op.drop_index("ix_medcard_alerts_facility", "medcard_alerts")
    op.drop_index("ix_medcard_alerts_due", "medcard_alerts")
    op.drop_table("medcard_alerts")
