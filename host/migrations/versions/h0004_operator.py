"""Operator tools: facility licences, calendar overrides, installations and their history, grant
certifications and access review campaigns (``host.operator.tables``).

Revision ID: h0004
Revises: h0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "h0004"
down_revision = "h0003"
branch_labels = None
depends_on = None

ts = sa.DateTime(timezone=True)
S = sa.String


def upgrade() -> None:
    op.create_table(
        "facility_licences",
        sa.Column("facility", S(64), primary_key=True),
        sa.Column("licence_number", S(100), nullable=False),
        sa.Column("licence_valid_until", sa.Date),
        sa.Column("updated_at", ts, nullable=False))
    op.create_table(
        "calendar_overrides",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("working", sa.Boolean, nullable=False),
        sa.Column("reason", S(300), nullable=False),
        sa.Column("set_by", S(100), nullable=False),
        sa.Column("set_at", ts, nullable=False))
    op.create_table(
        "installations",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("facility", S(64), nullable=False),
        sa.Column("module", S(64), nullable=False),
        sa.Column("applied_on", sa.Date, nullable=False),
        sa.Column("due_on", sa.Date, nullable=False),
        sa.Column("state", S(16), nullable=False),
        sa.Column("reason", S(500)),
        sa.Column("installed_on", sa.Date),
        sa.Column("updated_at", ts, nullable=False),
        sa.Column("updated_by", S(100), nullable=False))
    op.create_index("ix_installations_state", "installations", ["state", "due_on"])
    op.create_table(
        "installation_changes",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("installation", sa.Uuid, sa.ForeignKey("installations.id"), nullable=False),
        sa.Column("state", S(16), nullable=False),
        sa.Column("reason", S(500)),
        sa.Column("at", ts, nullable=False),
        sa.Column("by", S(100), nullable=False))
    op.create_index("ix_installation_changes", "installation_changes", ["installation"])
    op.create_table(
        "grant_certifications",
        sa.Column("grant", sa.Uuid, primary_key=True),
        sa.Column("account", sa.Uuid, nullable=False),
        sa.Column("certified_at", ts, nullable=False),
        sa.Column("certified_by", S(100), nullable=False))
    op.create_table(
        "review_campaigns",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("title", S(300), nullable=False),
        sa.Column("opened_at", ts, nullable=False),
        sa.Column("opened_by", S(100), nullable=False),
        sa.Column("closed_at", ts))
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("campaign", sa.Uuid, sa.ForeignKey("review_campaigns.id"), nullable=False),
        sa.Column("account", sa.Uuid, nullable=False),
        sa.Column("grant", sa.Uuid, nullable=False),
        sa.Column("decision", S(16), nullable=False),
        sa.Column("comment", S(500), nullable=False),
        sa.Column("by", S(100), nullable=False),
        sa.Column("at", ts, nullable=False))
    op.create_index("ix_review_decisions_campaign", "review_decisions", ["campaign"])


def downgrade() -> None:
    for name in ("review_decisions", "review_campaigns", "grant_certifications", "installation_changes",
                 "installations", "calendar_overrides", "facility_licences"):
        op.drop_table(name)
