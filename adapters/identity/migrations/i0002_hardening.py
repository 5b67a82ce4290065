"""Sign-in hardening: failure counters, EDS challenges, credential-sharing flags, education.

Revision ID: i0002
Revises: i0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "i0002"
down_revision = "i0001"
branch_labels = None
depends_on = None

ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("education", sa.String(300)))
    op.create_index("ix_sessions_account", "sessions", ["account"])
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("last_failure_at", ts, nullable=False),
        sa.Column("next_allowed_at", ts),
        sa.Column("locked_until", ts),
    )
    op.create_table(
        "login_challenges",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("login", sa.String(100), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("expires_at", ts, nullable=False),
        sa.Column("used_at", ts),
    )
    op.create_table(
        "session_flags",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("account", sa.Uuid, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("session", sa.Uuid, nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("other_session", sa.Uuid, nullable=False),
        sa.Column("other_client", sa.String(64), nullable=False),
        sa.Column("created_at", ts, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("session_flags")
    op.drop_table("login_challenges")
    op.drop_table("login_failures")
    op.drop_index("ix_sessions_account", "sessions")
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("education")
