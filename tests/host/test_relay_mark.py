"""PostgreSQL: the relay's mark travels with the claim's COMMIT (one round trip). If the mark fails
there, nothing of the batch commits: no handler's effect, no row marked; the connection that
failed is not reused, and the next pass delivers the batch whole."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text

from core.clock import utcnow
from core.events import Event
from host.pluginapi import EventHandler
from host.relay import Relay
from host.tables import facilities
from ports.storage import Transaction
from tests.host.test_outbox_relay import FACILITY_ROWS, Pinged, count, migrated, publish

pytestmark = pytest.mark.postgres

REFUSE = ("CREATE FUNCTION t_refuse() RETURNS trigger LANGUAGE plpgsql AS "
          "$$ BEGIN RAISE EXCEPTION 'mark refused'; END $$")
ON_MARK = ("CREATE TRIGGER t_refuse BEFORE UPDATE OF delivered_at ON shifo_outbox "
           "FOR EACH ROW EXECUTE FUNCTION t_refuse()")


async def effect(event: Event, tx: Transaction) -> None:
    n = getattr(event, "n", 0)
    await tx.execute(facilities.insert().values(id=f"F{n}", name=f"Polyclinic {n}", kind="polyclinic",
                                                region="Tashkent", created_at=utcnow()))


async def test_a_mark_refused_at_commit_leaves_nothing_of_the_batch(pg_url: str) -> None:
    async with migrated(pg_url) as storage:
        relay = Relay(storage, [EventHandler(consumer="t.effect", event_types=(Pinged.event_type(),),
                                             handle=effect)])
        await publish(storage, Pinged(n=1), Pinged(n=2))
        async with storage.transaction() as tx:
            await tx.execute(text(REFUSE))
            await tx.execute(text(ON_MARK))

        with pytest.raises(asyncpg.RaiseError, match="mark refused"):
            await relay.drain()
        assert await count(storage, FACILITY_ROWS) == 0  # the handler ran, and rolled back
        assert (await storage.outbox.lag())[0] == 2  # both still pending

        async with storage.transaction() as tx:
            await tx.execute(text("DROP TRIGGER t_refuse ON shifo_outbox"))
        assert await relay.drain() == 2
        assert await count(storage, FACILITY_ROWS) == 2
        assert (await storage.outbox.lag())[0] == 0
        assert await relay.drain() == 0  # marked: not delivered again


async def test_two_marks_in_one_claim_both_commit(pg_url: str) -> None:
    """The outbox port lets a claim mark its batch in parts; each part goes with the COMMIT."""
    async with migrated(pg_url) as storage:
        await publish(storage, Pinged(n=1), Pinged(n=2), Pinged(n=3))
        async with storage.outbox.claim(10) as batch:
            seqs = [s.seq for s in batch.events]
            assert len(seqs) == 3
            await batch.delivered(seqs[:1])
            await batch.delivered(seqs[1:])
        assert (await storage.outbox.lag())[0] == 0
        async with storage.outbox.claim(10) as batch:
            assert batch.events == []
