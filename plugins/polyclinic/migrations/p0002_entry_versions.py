"""Attached entries keep the version their content came from, and marks (entered in error,
cancelled) are kept per record even before the record arrives: a retried older event can no longer
overwrite a newer version. Existing rows take the version their card summary names.

Revision ID: p0002
Revises: p0001
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "p0002"
down_revision = "p0001"
branch_labels = None
depends_on = None

ROWS, MARKS = "polyclinic_visit_entries", "polyclinic_entry_marks"
_FROM_SUMMARY = {  # the card summary's "version", where it is a whole number
    "postgresql": "UPDATE polyclinic_visit_entries SET version = (summary->>'version')::int "
                  "WHERE jsonb_typeof(summary->'version') = 'number' "
                  "AND summary->>'version' ~ '^[0-9]{1,9}$'",
    "sqlite": "UPDATE polyclinic_visit_entries SET version = json_extract(summary, '$.version') "
              "WHERE json_type(summary, '$.version') = 'integer'",
}


def upgrade() -> None:
    op.add_column(ROWS, sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    op.execute(_FROM_SUMMARY[op.get_bind().dialect.name])
    op.create_index(f"ix_{ROWS}_entry", ROWS, ["entry_id"])
    op.create_table(
        MARKS,
        sa.Column("record_id", sa.Uuid, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("patch", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table(MARKS)
    op.drop_index(f"ix_{ROWS}_entry", ROWS)
    with op.batch_alter_table(ROWS) as batch:
        batch.drop_column("version")
