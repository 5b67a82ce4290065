"""The outbox's tables, defined once (the host reads them only through the storage port). Created
by the host's migration branch (``host/migrations``)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    text,
)

from ports.sql import UtcDateTime

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
SeqType = BigInteger().with_variant(Integer(), "sqlite")

outbox = Table(
    "shifo_outbox",
    metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("event_type", String(100), nullable=False),
    Column("patient", String(14)),
    Column("facility", String(64)),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime),
    # core.partitions.partition_of(patient, event_id), written with the row: the unit of the
    # relays' shared work (adapters.storage.outbox_claims). The default serves only rows written
    # by a process of the version before it (a rolling upgrade) and rows of before h0007.
    Column("partition", SmallInteger, nullable=False, server_default=text("0")),
)
# pending rows: PostgreSQL claims them partition by partition, SQLite (one relay) by seq alone
Index("ix_shifo_outbox_pending", outbox.c.seq, sqlite_where=text("delivered_at IS NULL")) \
    .ddl_if(dialect="sqlite")
Index("ix_shifo_outbox_partition_pending", outbox.c.partition, outbox.c.seq,
      postgresql_where=text("delivered_at IS NULL")).ddl_if(dialect="postgresql")
Index("ix_shifo_outbox_patient", outbox.c.patient, outbox.c.seq)

inbox = Table(
    "shifo_inbox",
    metadata,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", Uuid, primary_key=True),
    Column("processed_at", UtcDateTime, nullable=False),
)

delivery_failures = Table(
    "shifo_delivery_failures",
    metadata,
    Column("seq", SeqType, ForeignKey("shifo_outbox.seq"), primary_key=True),
    Column("consumer", String(100), primary_key=True),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("parked", Boolean, nullable=False),
)
