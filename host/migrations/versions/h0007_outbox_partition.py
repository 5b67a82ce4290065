"""Outbox rows carry their partition (``core.partitions``), so relays can share the work.

PostgreSQL claims pending rows partition by partition, through the function ``shifo_outbox_claim``
made here (``adapters.storage.outbox_claims`` says why and how), and the pending index becomes
``(partition, seq)``. SQLite keeps one relay and its ``seq`` index.

Pending rows get their partition here, computed in Python (PostgreSQL has no CRC-32), in
batches. Delivered rows keep 0: nothing reads their partition, and a row ``shifo events retry``
puts back in the queue gets its partition again then. The column's default 0 stays for a
process of the version before this one that writes during a rolling upgrade: its rows all go to
partition 0, so a patient's events may be relayed out of order until every process runs this
version.

Revision ID: h0007
Revises: h0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

from core.partitions import partition_of

revision = "h0007"
down_revision = "h0006"
branch_labels = None
depends_on = None

BATCH = 5000
OUTBOX = sa.table("shifo_outbox", sa.column("seq", sa.BigInteger), sa.column("event_id", sa.Uuid),
                  sa.column("patient", sa.String), sa.column("partition", sa.SmallInteger),
                  sa.column("delivered_at", sa.DateTime))
PENDING = sa.text("delivered_at IS NULL")
# Try-lock the partitions with pending rows above ``after``, oldest first, until those held have
# ``lim`` pending rows between them (a busy one is skipped and counted); then the oldest ``lim``
# pending rows of the partitions held, in seq order. The first row answers the busy count alone.
# VOLATILE: each statement sees what the partitions' previous holders committed before their
# locks were taken. Generic plans: planning these cost more than running them.
CLAIM = """
CREATE FUNCTION shifo_outbox_claim(after bigint, lim bigint, parts int, lock_key int)
RETURNS TABLE (seq bigint, event_type varchar, payload bytea, busy int)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $fn$
#variable_conflict use_column
DECLARE
    held int[] := '{}';
    taken bigint := 0;
    skipped int := 0;
    part int;
BEGIN
    FOR part IN
        SELECT h.p FROM generate_series(0, parts - 1) AS h(p)
        CROSS JOIN LATERAL (SELECT o.seq FROM shifo_outbox o
                            WHERE o.partition = h.p AND o.delivered_at IS NULL AND o.seq > after
                            ORDER BY o.seq LIMIT 1) AS head
        ORDER BY head.seq
    LOOP
        EXIT WHEN taken >= lim;
        IF pg_try_advisory_xact_lock(lock_key, part) THEN
            held := held || part;
            taken := taken + (SELECT count(*) FROM (
                SELECT 1 FROM shifo_outbox o
                WHERE o.partition = part AND o.delivered_at IS NULL AND o.seq > after
                LIMIT lim - taken) AS x);
        ELSE
            skipped := skipped + 1;
        END IF;
    END LOOP;
    RETURN QUERY SELECT NULL::bigint, NULL::varchar, NULL::bytea, skipped;
    IF cardinality(held) > 0 THEN
        RETURN QUERY
        SELECT r.seq, r.event_type::varchar, r.payload, NULL::int
        FROM unnest(held) AS h(p)
        CROSS JOIN LATERAL (SELECT o.seq, o.event_type, o.payload FROM shifo_outbox o
                            WHERE o.partition = h.p AND o.delivered_at IS NULL AND o.seq > after
                            ORDER BY o.seq LIMIT lim) AS r
        ORDER BY r.seq LIMIT lim;
    END IF;
END
$fn$
"""


def _backfill() -> None:
    o, bind, after = OUTBOX.c, op.get_bind(), -1
    update = sa.update(OUTBOX).where(o.seq == sa.bindparam("s")).values(partition=sa.bindparam("p"))
    while True:
        rows = bind.execute(sa.select(o.seq, o.patient, o.event_id)
                            .where(o.delivered_at.is_(None), o.seq > after)
                            .order_by(o.seq).limit(BATCH)).all()
        changed = [{"s": seq, "p": partition_of(patient, event_id)} for seq, patient, event_id in rows]
        changed = [row for row in changed if row["p"]]  # 0 is there already
        if changed:
            bind.execute(update, changed)
        if len(rows) < BATCH:
            return
        after = rows[-1].seq


def upgrade() -> None:
    op.add_column("shifo_outbox", sa.Column("partition", sa.SmallInteger, nullable=False,
                                            server_default=sa.text("0")))
    _backfill()
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_shifo_outbox_partition_pending", "shifo_outbox", ["partition", "seq"],
                        postgresql_where=PENDING)
        op.drop_index("ix_shifo_outbox_pending", "shifo_outbox")
        op.execute(CLAIM)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION shifo_outbox_claim(bigint, bigint, int, int)")
        op.create_index("ix_shifo_outbox_pending", "shifo_outbox", ["seq"], postgresql_where=PENDING)
        op.drop_index("ix_shifo_outbox_partition_pending", "shifo_outbox")
    op.drop_column("shifo_outbox", "partition")
