"""One flag per (session, client address): a token presented from a second address is flagged once,
however many requests it makes from there (``INSERT ... ON CONFLICT DO NOTHING``).

Revision ID: i0004
Revises: i0003
Create Date: 2026-12-05
"""

from alembic import op

revision = "i0004"
down_revision = "i0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("uq_session_flags_session_client", "session_flags", ["session", "client"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_session_flags_session_client", table_name="session_flags")
