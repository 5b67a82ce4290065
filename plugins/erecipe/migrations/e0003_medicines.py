"""The medicines register (versioned), its GTINs, and the marked packs each dispense handed out.

Revision ID: e0003
Revises: e0002
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "e0003"
down_revision = "e0002"
branch_labels = None
depends_on = None

ts = sa.DateTime(timezone=True)
MEDICINE = "erecipe_medicines.id"


def upgrade() -> None:
    op.create_table(  # one row per version of a registered product; the current one has no superseded_at
        "erecipe_medicines",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("registration_number", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("trade_name", sa.String(200), nullable=False),
        sa.Column("inn", sa.String(200), nullable=False),
        sa.Column("atc", sa.String(7), nullable=False),
        sa.Column("form", sa.String(100), nullable=False),
        sa.Column("strength_value", sa.String(32), nullable=False),
        sa.Column("strength_unit", sa.String(32), nullable=False),
        sa.Column("pack_size", sa.Integer, nullable=False),
        sa.Column("manufacturer", sa.String(200), nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_to", sa.Date),
        sa.Column("prescription_only", sa.Boolean, nullable=False),
        sa.Column("narcotic", sa.Boolean, nullable=False),
        sa.Column("psychotropic", sa.Boolean, nullable=False),
        sa.Column("precursor", sa.Boolean, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("imported_at", ts, nullable=False),
        sa.Column("superseded_at", ts),
        sa.UniqueConstraint("registration_number", "version", name="uq_erecipe_medicines_version"),
    )
    op.create_index("ix_erecipe_medicines_inn", "erecipe_medicines", ["inn"])
    op.create_index("ix_erecipe_medicines_atc", "erecipe_medicines", ["atc"])
    op.create_table(
        "erecipe_medicine_gtins",
        sa.Column("medicine_id", sa.Uuid, sa.ForeignKey(MEDICINE), primary_key=True),
        sa.Column("gtin", sa.String(14), primary_key=True),
    )
    op.create_index("ix_erecipe_medicine_gtins_gtin", "erecipe_medicine_gtins", ["gtin"])
    op.add_column("erecipe_lines", sa.Column("medicine_id", sa.Uuid))
    op.create_table(  # what each dispense handed out, pack by pack; a marked serial is sold once
        "erecipe_dispense_items",
        sa.Column("dispense_id", sa.Uuid, sa.ForeignKey("erecipe_dispenses.id"), primary_key=True),
        sa.Column("item", sa.Integer, primary_key=True),
        sa.Column("line", sa.Integer, nullable=False),
        sa.Column("medicine_id", sa.Uuid, sa.ForeignKey(MEDICINE)),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("gtin", sa.String(14)),
        sa.Column("batch", sa.String(64)),
        sa.Column("serial", sa.String(64)),
        sa.Column("expiry", sa.Date, nullable=False),
    )
    op.create_index("uq_erecipe_dispense_items_serial", "erecipe_dispense_items", ["gtin", "serial"],
                    unique=True)


def downgrade() -> None:
    op.drop_table("erecipe_dispense_items")
    op.drop_column("erecipe_lines", "medicine_id")
    op.drop_table("erecipe_medicine_gtins")
    op.drop_index("ix_erecipe_medicines_atc", "erecipe_medicines")
    op.drop_index("ix_erecipe_medicines_inn", "erecipe_medicines")
    op.drop_table("erecipe_medicines")
