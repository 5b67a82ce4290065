"""One admitted stay per patient and facility: two concurrent admissions of one patient cannot
both commit (the loser's unique violation is a 409).

Revision ID: k0002
Revises: k0001
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "k0002"
down_revision = "k0001"
branch_labels = None
depends_on = None

_ADMITTED = sa.text("status = 'admitted'")


def upgrade() -> None:
    op.create_index("uq_hospital_stays_admitted", "hospital_stays", ["facility", "pinfl"], unique=True,
                    sqlite_where=_ADMITTED, postgresql_where=_ADMITTED)


def downgrade() -> None:
    op.drop_index("uq_hospital_stays_admitted", table_name="hospital_stays")
