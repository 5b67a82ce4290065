"""Keyed checkpoints of the audit chains' heads (``host.audit_anchor``), append-only like the trail.

Revision ID: h0005
Revises: h0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "h0005"
down_revision = "h0004"
branch_labels = None
depends_on = None

PG_UP = [
    """CREATE TRIGGER shifo_audit_checkpoints_no_change BEFORE UPDATE OR DELETE ON shifo_audit_checkpoints
       FOR EACH ROW EXECUTE FUNCTION shifo_audit_append_only()""",
    """CREATE TRIGGER shifo_audit_checkpoints_no_truncate BEFORE TRUNCATE ON shifo_audit_checkpoints
       FOR EACH STATEMENT EXECUTE FUNCTION shifo_audit_append_only()""",
    "REVOKE UPDATE, DELETE, TRUNCATE ON shifo_audit_checkpoints FROM PUBLIC, CURRENT_USER",
]
SQLITE_UP = [
    f"""CREATE TRIGGER shifo_audit_checkpoints_no_{op_} BEFORE {op_.upper()} ON shifo_audit_checkpoints
        BEGIN SELECT RAISE(ABORT, 'shifo_audit_checkpoints is append-only'); END"""
    for op_ in ("update", "delete")
]


def upgrade() -> None:
    op.create_table(
        "shifo_audit_checkpoints",
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("chain", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
    )
    for statement in PG_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("shifo_audit_checkpoints")  # drops its triggers with it
