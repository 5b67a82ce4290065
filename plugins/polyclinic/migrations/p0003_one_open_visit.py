"""One open visit per patient and facility: a check-in and a walk-in of one patient at once cannot
both open a visit (the loser's unique violation is a 409).

Revision ID: p0003
Revises: p0002
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "p0003"
down_revision = "p0002"
branch_labels = None
depends_on = None

_OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_index("uq_polyclinic_visits_open", "polyclinic_visits", ["facility", "pinfl"], unique=True,
                    sqlite_where=_OPEN, postgresql_where=_OPEN)


def downgrade() -> None:
    op.drop_index("uq_polyclinic_visits_open", table_name="polyclinic_visits")
