"""Relays that share the work (PostgreSQL): a claim takes partitions no other relay holds.

Each partition (``core.partitions``: all events of one patient share one) is relayed by one claim
at a time, in ``seq`` order, which keeps each patient's events in commit order however many relays
run. A claim never waits for another. In its transaction, the database function
``shifo_outbox_claim`` (made by the host's migration h0007):

1. walks the partitions with pending rows above ``after``, oldest first, and try-locks each
   (``pg_try_advisory_xact_lock(KEY, partition)``, held until the claim ends) until the
   partitions it holds have ``limit`` pending rows between them; a partition another relay
   holds is skipped and counted as busy;
2. reads the oldest pending rows of the partitions it holds, at most ``limit``, in ``seq``
   order, in a statement of its own: it sees whatever the partitions' previous holders
   committed before it took their locks (in one statement with the locks it would not: its
   snapshot would be older than the locks), so no row is claimed twice.

A relay that finds every pending partition busy gets an empty batch at once (``busy`` says why).
A function rather than statements sent from here: one round trip instead of two, and plans kept
generic (planning the walk cost more than running it: about 0.4 ms against 0.1 ms). Both steps
read the pending index ``(partition, seq)``: a probe per partition for its oldest row, then at
most ``limit`` entries per partition held.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.storage.transaction import SqlTransaction
from core.partitions import PARTITIONS

KEY = 0x5348_4946  # "SHIF": the partitions' locks are (KEY, partition); int4, as the function takes
_CLAIM = "SELECT seq, event_type, payload, busy FROM shifo_outbox_claim($1, $2, $3, $4)"


def _driver(tx: SqlTransaction) -> Any:
    """The asyncpg connection under ``tx``: the call is run on it as it is (asyncpg keeps it
    prepared), as :mod:`adapters.storage.claimed` runs its savepoints."""
    return tx.conn.sync_connection.connection.dbapi_connection._connection  # type: ignore[union-attr]


async def claim_rows(tx: SqlTransaction, limit: int, after: int) -> tuple[Sequence[Any], int]:
    """Lock free partitions with pending rows and read up to ``limit`` of their rows (see the
    module docstring): (rows of seq, event type, payload; partitions found busy)."""
    rows, busy = [], 0
    for seq, event_type, payload, skipped in await _driver(tx).fetch(_CLAIM, after, limit, PARTITIONS, KEY):
        if seq is None:  # the function's first row: the busy count alone
            busy = int(skipped)
        else:
            rows.append((seq, event_type, payload))
    return rows, busy
