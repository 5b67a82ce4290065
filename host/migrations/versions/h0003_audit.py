"""The audit trail: append-only entries in independent hash chains, keyed (chain, seq) (``host.audit``).

Triggers refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) on every database, even for the
table's owner; on PostgreSQL the privileges are revoked as well. In production run the application
as a role that does not own the table, so it cannot disable the triggers either.

Revision ID: h0003
Revises: h0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "h0003"
down_revision = "h0002"
branch_labels = None
depends_on = None

ts = sa.DateTime(timezone=True)

PG_UP = [
    """CREATE FUNCTION shifo_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'shifo_audit is append-only: % refused', TG_OP
             USING ERRCODE = 'insufficient_privilege'; END $$""",
    """CREATE TRIGGER shifo_audit_no_change BEFORE UPDATE OR DELETE ON shifo_audit
       FOR EACH ROW EXECUTE FUNCTION shifo_audit_append_only()""",
    """CREATE TRIGGER shifo_audit_no_truncate BEFORE TRUNCATE ON shifo_audit
       FOR EACH STATEMENT EXECUTE FUNCTION shifo_audit_append_only()""",
    "REVOKE UPDATE, DELETE, TRUNCATE ON shifo_audit FROM PUBLIC, CURRENT_USER",
]
PG_DOWN = ["DROP TRIGGER IF EXISTS shifo_audit_no_truncate ON shifo_audit",
           "DROP TRIGGER IF EXISTS shifo_audit_no_change ON shifo_audit",
           "DROP FUNCTION IF EXISTS shifo_audit_append_only()"]
SQLITE_UP = [
    f"""CREATE TRIGGER shifo_audit_no_{op_} BEFORE {op_.upper()} ON shifo_audit
        BEGIN SELECT RAISE(ABORT, 'shifo_audit is append-only'); END"""
    for op_ in ("update", "delete")
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS shifo_audit_no_update", "DROP TRIGGER IF EXISTS shifo_audit_no_delete"]


def upgrade() -> None:
    op.create_table(
        "shifo_audit",
        sa.Column("chain", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", ts, nullable=False),
        sa.Column("actor", sa.String(36)),
        sa.Column("login", sa.String(100)),
        sa.Column("role", sa.String(100)),
        sa.Column("facility", sa.String(64)),
        sa.Column("patient", sa.String(64)),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("object", sa.String(300)),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("client", sa.String(64)),
        sa.Column("detail", sa.String(500)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_shifo_audit_patient", "shifo_audit", ["patient", "at"])
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in PG_UP if pg else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for statement in PG_DOWN if pg else SQLITE_DOWN:
        op.execute(statement)
    op.drop_index("ix_shifo_audit_patient", "shifo_audit")
    op.drop_table("shifo_audit")
