"""The card's word on a diagnosis read from the index: (pinfl, code, status, verification).

Issuing asks what the card says of the prescription's diagnosis. A card holds a code once per
entry, so a chronic diagnosis recorded at every visit has many rows, and reading them all made an
issue slower the more often its code had been recorded. With the state in the index, each state
the check asks about is one probe (``plugins.erecipe.card_diagnoses.on_card``). The new index
begins with the old one's columns, so it serves the old one's reads too.

Revision ID: e0006
Revises: e0005
Create Date: 2026-12-07
"""

from alembic import op

revision = "e0006"
down_revision = "e0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_erecipe_card_diagnoses_said", "erecipe_card_diagnoses",
                    ["pinfl", "code", "status", "verification"])
    op.drop_index("ix_erecipe_card_diagnoses_code", "erecipe_card_diagnoses")


def downgrade() -> None:
    op.create_index("ix_erecipe_card_diagnoses_code", "erecipe_card_diagnoses", ["pinfl", "code"])
    op.drop_index("ix_erecipe_card_diagnoses_said", "erecipe_card_diagnoses")
