"""The relay's gather window: commits arriving while a pass runs share the next pass, which starts
``gather_seconds`` after the first of them, so no event waits longer than the window plus a pass
(waiting the window after the pass would add the pass's remaining time to every wait).

PostgreSQL only: on SQLite a pass's transaction holds the one write lock, so no commit can arrive
while a pass runs, and each commit finds the relay idle (served at once)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from core.events import Event
from host.pluginapi import EventHandler
from host.relay import Relay
from ports.storage import Transaction
from tests.host.test_outbox_relay import Pinged, migrated, publish, wait_for_empty_outbox

PASS_SECONDS = 0.15  # every pass's handling takes this long
GATHER_SECONDS = 0.3


async def test_a_steady_stream_waits_the_window_from_its_first_commit_not_after_the_pass(
        pg_url: str) -> None:
    loop = asyncio.get_running_loop()
    committed: dict[int, float] = {}
    waited: list[float] = []
    passes: list[int] = []

    async def many(events: Sequence[Event], tx: Transaction) -> None:
        await asyncio.sleep(PASS_SECONDS)
        done = loop.time()
        passes.append(len(events))
        waited.extend(done - committed[getattr(e, "n", 0)] for e in events)

    async def one(event: Event, tx: Transaction) -> None:
        await many([event], tx)

    async with migrated(pg_url) as storage:
        relay = Relay(storage, [EventHandler(consumer="t.steady", event_types=(Pinged.event_type(),),
                                             handle=one, handle_batch=many)],
                      poll_seconds=30, gather_seconds=GATHER_SECONDS)
        await relay.start()
        try:
            await asyncio.sleep(0.2)
            for n in range(1, 121):  # a commit every 10 ms for 1.2 s
                await publish(storage, Pinged(n=n))
                committed[n] = loop.time()
                await asyncio.sleep(0.01)
            await wait_for_empty_outbox(storage)
        finally:
            await relay.stop()
    assert len(waited) == 120
    # the window counted from the pass's end would make the worst wait about
    # PASS + GATHER + PASS = 0.6 s; from the first commit it is about GATHER + PASS = 0.45 s
    assert max(waited) < GATHER_SECONDS + PASS_SECONDS + 0.09, sorted(waited)[-5:]
    assert len(passes) <= 12, passes  # still gathered: about one pass per window, not per commit
