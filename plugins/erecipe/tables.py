"""The prescription module's tables.

A prescription row keeps the signed canonical bytes, the signature and its verification verdict
forever; ``status`` is the stored state (``expired`` is also derived on read from ``valid_until``).
Each line carries a ``remaining`` quantity that dispensing decrements with a conditional UPDATE,
so concurrent dispenses can never hand out more than was prescribed.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Table, Uuid
from sqlalchemy.dialects.postgresql import JSONB

from ports.sql import UtcDateTime

metadata = MetaData()
Json = JSON().with_variant(JSONB(), "postgresql")

prescriptions = Table(
    "erecipe_prescriptions", metadata,
    Column("id", Uuid, primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("status", String(24), nullable=False),  # draft, issued, ..., cancelled, expired
    Column("patient_pinfl", String(14), nullable=False),
    Column("category", String(64), nullable=False),
    Column("diagnosis", String(16), nullable=False),
    Column("facility", String(64), nullable=False),
    Column("prescriber_id", Uuid, nullable=False),
    Column("prescriber_role", String(32), nullable=False),
    Column("partial", Integer, nullable=False),  # 0/1, copied from the category at drafting
    Column("content", Json, nullable=False),  # the signed content, as an object
    Column("canonical", LargeBinary, nullable=False),  # its canonical bytes: what the prescriber signs
    Column("signature", LargeBinary),
    Column("verification", Json),
    Column("created_at", UtcDateTime, nullable=False),
    Column("issued_at", UtcDateTime),
    Column("valid_until", UtcDateTime, nullable=False),
    Column("cancel_reason", String(500)),
    Column("cancel_signature", LargeBinary),
    Column("cancel_verification", Json),
)
Index("ix_erecipe_patient", prescriptions.c.patient_pinfl, prescriptions.c.status)
Index("ix_erecipe_due", prescriptions.c.status, prescriptions.c.valid_until)

lines = Table(
    "erecipe_lines", metadata,
    Column("prescription_id", Uuid, ForeignKey("erecipe_prescriptions.id"), primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("inn", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),  # per dispensing
    Column("remaining", Integer, nullable=False),  # quantity x repeats, minus what was dispensed
)

dispenses = Table(
    "erecipe_dispenses", metadata,
    Column("id", Uuid, primary_key=True),
    Column("prescription_id", Uuid, ForeignKey("erecipe_prescriptions.id"), nullable=False),
    Column("facility", String(64), nullable=False),
    Column("pharmacist_id", Uuid, nullable=False),
    Column("items", Json, nullable=False),
    Column("canonical", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("verification", Json, nullable=False),
    Column("dispensed_at", UtcDateTime, nullable=False),
)
Index("ix_erecipe_dispenses_rx", dispenses.c.prescription_id)

history = Table(
    "erecipe_history", metadata,
    Column("id", Uuid, primary_key=True),
    Column("prescription_id", Uuid, ForeignKey("erecipe_prescriptions.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("status", String(24), nullable=False),  # the state entered
    Column("by", Uuid),  # None: the expiry sweep
    Column("reason", String(500)),
    Column("detail", Json),
)
Index("ix_erecipe_history_rx", history.c.prescription_id, history.c.at)

card_diagnoses = Table(  # the card's diagnosis entries, one row per entry at its newest version seen
    "erecipe_card_diagnoses", metadata,
    Column("entry_id", Uuid, primary_key=True),
    Column("pinfl", String(14), nullable=False),
    Column("code", String(16)),  # ICD-10; None until an event that carries it arrives
    Column("code_version", Integer, nullable=False),  # the entry version the code was taken from
    Column("verification", String(16)),  # provisional | confirmed | refuted
    Column("status", String(24), nullable=False),  # current | entered_in_error
    Column("entry_version", Integer, nullable=False),  # the version status and verification are from
    Column("updated_at", UtcDateTime, nullable=False),
)
Index("ix_erecipe_card_diagnoses_code", card_diagnoses.c.pinfl, card_diagnoses.c.code)

__all__ = ["card_diagnoses", "dispenses", "history", "lines", "metadata", "prescriptions"]
