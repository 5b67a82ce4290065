"""Accounts, grants and sessions of the local identity adapter.

Revision ID: i0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "i0001"
down_revision = None
branch_labels = ("identity",)
depends_on = "h0001"

ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("login", sa.String(100), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("full_name", sa.String(300), nullable=False),
        sa.Column("pinfl", sa.String(14)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200)),
        sa.Column("created_at", ts, nullable=False),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("account", sa.Uuid, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("qualification_number", sa.String(100)),
        sa.Column("qualification_issuer", sa.String(300)),
        sa.Column("qualification_date", sa.Date),
        sa.Column("granted_at", ts, nullable=False),
        sa.Column("revoked_at", ts),
    )
    op.create_index("ix_grants_account", "grants", ["account"])
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("account", sa.Uuid, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("audience", sa.String(16), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("expires_at", ts, nullable=False),
        sa.Column("revoked_at", ts),
    )


def downgrade() -> None:
    op.drop_table("sessions")
    op.drop_index("ix_grants_account", "grants")
    op.drop_table("grants")
    op.drop_table("accounts")
