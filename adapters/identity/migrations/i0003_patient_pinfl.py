"""One patient account per PINFL: the patient app signs a person in by their PINFL.

Revision ID: i0003
Revises: i0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "i0003"
down_revision = "i0002"
branch_labels = None
depends_on = None

_PATIENTS = sa.text("kind = 'patient'")


def upgrade() -> None:
    op.create_index("uq_accounts_patient_pinfl", "accounts", ["pinfl"], unique=True,
                    sqlite_where=_PATIENTS, postgresql_where=_PATIENTS)


def downgrade() -> None:
    op.drop_index("uq_accounts_patient_pinfl", table_name="accounts")
