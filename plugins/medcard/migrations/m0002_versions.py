"""Entry versions (entry_id, reason), clinical status and lab flag; folded name keys for search.

Revision ID: m0002
Revises: m0001
Create Date: 2026-11-26
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "m0002"
down_revision = "m0001"
branch_labels = None
depends_on = None


def _fold(name: str | None) -> str | None:
    # Same folding as plugins.medcard.names.search_key (a migration must not import live code).
    if name is None:
        return None
    text = unicodedata.normalize("NFC", name).casefold()
    for mark in "\u02bb\u02bc\u2019\u2018`":
        text = text.replace(mark, "'")
    return " ".join(text.split())


def upgrade() -> None:
    op.add_column("medcard_patients", sa.Column("surname_key", sa.String(100)))
    op.add_column("medcard_patients", sa.Column("given_key", sa.String(100)))
    conn = op.get_bind()
    pts = sa.table("medcard_patients", sa.column("id", sa.Uuid), sa.column("surname", sa.String),
                   sa.column("given_name", sa.String), sa.column("surname_key", sa.String),
                   sa.column("given_key", sa.String))
    for row in conn.execute(sa.select(pts.c.id, pts.c.surname, pts.c.given_name)).all():
        conn.execute(pts.update().where(pts.c.id == row.id).values(
            surname_key=_fold(row.surname), given_key=_fold(row.given_name)))
    op.create_index("ix_medcard_patients_key", "medcard_patients", ["surname_key", "birth_date"])

    op.add_column("medcard_entries", sa.Column("entry_id", sa.Uuid))
    op.add_column("medcard_entries", sa.Column("reason", sa.String(500)))
    op.add_column("medcard_entries", sa.Column("clinical_status", sa.String(24)))
    op.add_column("medcard_entries", sa.Column("flag", sa.String(4)))
    op.execute("UPDATE medcard_entries SET entry_id = id")
    with op.batch_alter_table("medcard_entries") as batch:
        batch.alter_column("entry_id", existing_type=sa.Uuid, nullable=False)
        batch.create_unique_constraint("uq_medcard_entries_version", ["entry_id", "version"])
    op.create_index("ix_medcard_entries_facility", "medcard_entries", ["facility", "kind", "status"])


def downgrade() -> None:
    op.drop_index("ix_medcard_entries_facility", "medcard_entries")
    with op.batch_alter_table("medcard_entries") as batch:
        batch.drop_constraint("uq_medcard_entries_version", type_="unique")
        batch.drop_column("flag")
        batch.drop_column("clinical_status")
        batch.drop_column("reason")
        batch.drop_column("entry_id")
    op.drop_index("ix_medcard_patients_key", "medcard_patients")
    with op.batch_alter_table("medcard_patients") as batch:
        batch.drop_column("given_key")
        batch.drop_column("surname_key")
