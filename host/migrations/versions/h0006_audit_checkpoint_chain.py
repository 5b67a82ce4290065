"""Audit checkpoints chained by their MACs (``host.audit_ledger``): one row per checkpoint, numbered
per key, each MAC covering the previous one. The unchained checkpoints of h0005 are dropped: the
chain starts over, as after a key change (run ``shifo audit verify`` before upgrading to check
the trail against them one last time).

Revision ID: h0006
Revises: h0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "h0006"
down_revision = "h0005"
branch_labels = None
depends_on = None

TABLE = "shifo_audit_checkpoints"
PG_UP = [
    f"""CREATE TRIGGER {TABLE}_no_change BEFORE UPDATE OR DELETE ON {TABLE}
       FOR EACH ROW EXECUTE FUNCTION shifo_audit_append_only()""",
    f"""CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE}
       FOR EACH STATEMENT EXECUTE FUNCTION shifo_audit_append_only()""",
    f"REVOKE UPDATE, DELETE, TRUNCATE ON {TABLE} FROM PUBLIC, CURRENT_USER",
]
SQLITE_UP = [
    f"""CREATE TRIGGER {TABLE}_no_{op_} BEFORE {op_.upper()} ON {TABLE}
        BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only'); END"""
    for op_ in ("update", "delete")
]
SQLITE_DOWN = [f"DROP TRIGGER {TABLE}_no_{op_}" for op_ in ("update", "delete")]


def _guard() -> None:
    for statement in PG_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP:
        op.execute(statement)


def upgrade() -> None:
    op.drop_table(TABLE)  # its triggers go with it
    op.create_table(
        TABLE,
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("n", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heads", sa.Text, nullable=False),
        sa.Column("prev_mac", sa.String(64), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
    )
    _guard()


def downgrade() -> None:
    op.drop_table(TABLE)
    op.create_table(
        TABLE,
        sa.Column("key_id", sa.String(16), primary_key=True),
        sa.Column("chain", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mac", sa.String(64), nullable=False),
    )
    _guard()
