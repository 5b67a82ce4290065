"""The prescription module's tables.

A prescription row keeps the signed canonical bytes, the signature and its verification verdict
forever; ``status`` is the stored state (``expired`` is also derived on read from ``valid_until``).
Each line carries a ``remaining`` quantity that dispensing decrements with a conditional UPDATE,
so concurrent dispenses can never hand out more than was prescribed.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    Uuid,
)
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
    Column("source", String(8), nullable=False, server_default="online"),  # online | paper (registered later)
    Column("paper_number", String(32)),  # a paper prescription's form number, unique per facility
)
Index("uq_erecipe_paper_number", prescriptions.c.facility, prescriptions.c.paper_number, unique=True)
Index("ix_erecipe_patient", prescriptions.c.patient_pinfl, prescriptions.c.status)
Index("ix_erecipe_due", prescriptions.c.status, prescriptions.c.valid_until)

lines = Table(
    "erecipe_lines", metadata,
    Column("prescription_id", Uuid, ForeignKey("erecipe_prescriptions.id"), primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("inn", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),  # per dispensing
    Column("remaining", Integer, nullable=False),  # quantity x repeats, minus what was dispensed
    Column("medicine_id", Uuid),  # the register version named (None: a line by INN, form and strength)
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
    Column("dispensed_at", UtcDateTime, nullable=False),  # when handed out (offline: the entry's own time)
    Column("source", String(8), nullable=False, server_default="online"),  # online | offline (journal)
    Column("recorded_at", UtcDateTime),  # offline: when the journal upload recorded it
)
Index("ix_erecipe_dispenses_rx", dispenses.c.prescription_id)

dispense_conflicts = Table(  # an offline dispense the state did not allow: kept, listed, resolved
    "erecipe_dispense_conflicts", metadata,
    Column("id", Uuid, primary_key=True),
    Column("entry_id", Uuid, nullable=False, unique=True),  # the journal entry's id: recorded once
    Column("prescription_id", Uuid, ForeignKey("erecipe_prescriptions.id"), nullable=False),
    Column("number", String(32), nullable=False),
    Column("facility", String(64), nullable=False),
    Column("pharmacist_id", Uuid, nullable=False),
    Column("line", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("dispensed_at", UtcDateTime, nullable=False),
    Column("kind", String(24), nullable=False),  # overdraw | cancelled | expired | before_issue | pack_sold
    Column("reason", String(500), nullable=False),
    Column("entry", Json, nullable=False),  # the signed entry, with its signature and verdict below
    Column("signature", LargeBinary, nullable=False),
    Column("verification", Json, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # open | resolved
    Column("resolved_at", UtcDateTime),
    Column("resolved_by", Uuid),
    Column("resolution", String(500)),
)
Index("ix_erecipe_dispense_conflicts_open", dispense_conflicts.c.facility, dispense_conflicts.c.status)

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
# what the card says of a patient's code: one probe per state (card_diagnoses.on_card)
Index("ix_erecipe_card_diagnoses_said", card_diagnoses.c.pinfl, card_diagnoses.c.code,
      card_diagnoses.c.status, card_diagnoses.c.verification)

medicines = Table(  # the register: one row per version of a product; current: superseded_at is None
    "erecipe_medicines", metadata,
    Column("id", Uuid, primary_key=True),
    Column("registration_number", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("trade_name", String(200), nullable=False),
    Column("inn", String(200), nullable=False),
    Column("atc", String(7), nullable=False),
    Column("form", String(100), nullable=False),
    Column("strength_value", String(32), nullable=False),  # decimal text, canonical ("0.5", "500")
    Column("strength_unit", String(32), nullable=False),  # UCUM ("mg", "ug", "mg/mL", "[iU]")
    Column("pack_size", Integer, nullable=False),
    Column("manufacturer", String(200), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date),  # struck off from this day (not prescribable on or after it)
    Column("prescription_only", Boolean, nullable=False),
    Column("narcotic", Boolean, nullable=False),
    Column("psychotropic", Boolean, nullable=False),
    Column("precursor", Boolean, nullable=False),
    Column("fingerprint", String(64), nullable=False),  # of the imported fields: a re-import that
    Column("imported_at", UtcDateTime, nullable=False),  # changes nothing adds no version
    Column("superseded_at", UtcDateTime),
    UniqueConstraint("registration_number", "version", name="uq_erecipe_medicines_version"),
)
Index("ix_erecipe_medicines_inn", medicines.c.inn)
Index("ix_erecipe_medicines_atc", medicines.c.atc)

medicine_gtins = Table(
    "erecipe_medicine_gtins", metadata,
    Column("medicine_id", Uuid, ForeignKey("erecipe_medicines.id"), primary_key=True),
    Column("gtin", String(14), primary_key=True),  # 14 digits (GTIN-8/12/13 left-padded with zeros)
)
Index("ix_erecipe_medicine_gtins_gtin", medicine_gtins.c.gtin)

dispense_items = Table(  # what each dispense handed out; a marked pack's (gtin, serial) is sold once
    "erecipe_dispense_items", metadata,
    Column("dispense_id", Uuid, ForeignKey("erecipe_dispenses.id"), primary_key=True),
    Column("item", Integer, primary_key=True),
    Column("line", Integer, nullable=False),
    Column("medicine_id", Uuid, ForeignKey("erecipe_medicines.id")),
    Column("quantity", Integer, nullable=False),
    Column("gtin", String(14)),
    Column("batch", String(64)),
    Column("serial", String(64)),
    Column("expiry", Date, nullable=False),
)
Index("uq_erecipe_dispense_items_serial", dispense_items.c.gtin, dispense_items.c.serial, unique=True)

__all__ = ["card_diagnoses", "dispense_conflicts", "dispense_items", "dispenses", "history", "lines",
           "medicine_gtins", "medicines", "metadata", "prescriptions"]
