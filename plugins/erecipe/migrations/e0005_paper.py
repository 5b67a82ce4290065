"""Paper prescriptions: a prescription says where it came from (online, or a paper form registered
afterwards) and a paper form's number, unique per facility.

Revision ID: e0005
Revises: e0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "e0005"
down_revision = "e0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("erecipe_prescriptions") as batch:  # SQLite rebuilds; PostgreSQL alters
        batch.add_column(sa.Column("source", sa.String(8), nullable=False, server_default="online"))
        batch.add_column(sa.Column("paper_number", sa.String(32)))
    op.create_index("uq_erecipe_paper_number", "erecipe_prescriptions", ["facility", "paper_number"],
                    unique=True)


def downgrade() -> None:
    op.drop_index("uq_erecipe_paper_number", "erecipe_prescriptions")
    with op.batch_alter_table("erecipe_prescriptions") as batch:
        batch.drop_column("paper_number")
        batch.drop_column("source")
