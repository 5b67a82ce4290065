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


async def steady(pg_url: str, gather_max: float) -> tuple[list[int], list[float], list[float], float]:
    """A commit every 10 ms for 1.5 s into passes of 20 ms (the relay is never idle), then quiet,
    then one commit: the batch sizes, every event's wait, the windows seen by the passes (the lone
    event's last), the lone event's wait."""
    loop = asyncio.get_running_loop()
    committed: dict[int, float] = {}
    waited: list[float] = []
    passes: list[int] = []
    windows: list[float] = []

    async def many(events: Sequence[Event], tx: Transaction) -> None:
        windows.append(relay.window)
        await asyncio.sleep(0.02)
        passes.append(len(events))
        waited.extend(loop.time() - committed[getattr(e, "n", 0)] for e in events)

    async def one(event: Event, tx: Transaction) -> None:
        await many([event], tx)

    async with migrated(pg_url) as storage:
        relay = Relay(storage, [EventHandler(consumer="t.busy", event_types=(Pinged.event_type(),),
                                             handle=one, handle_batch=many)],
                      poll_seconds=30, gather_seconds=0.02, gather_max_seconds=gather_max)
        await relay.start()
        try:
            await asyncio.sleep(0.2)
            for n in range(1, 151):
                await publish(storage, Pinged(n=n))
                committed[n] = loop.time()
                await asyncio.sleep(0.01)
            await wait_for_empty_outbox(storage)
            await asyncio.sleep(0.3)  # idle: the relay waits for a wake-up
            await publish(storage, Pinged(n=999))
            committed[999] = loop.time()
            await wait_for_empty_outbox(storage)
            await asyncio.sleep(0.05)
        finally:
            await relay.stop()
    return passes, waited[:-1], windows, waited[-1]


async def test_the_window_grows_while_the_relay_stays_busy_and_is_small_again_once_idle(
        pg_url: str) -> None:
    fixed, fixed_waits, _, _ = await steady(pg_url, 0.02)
    grown, grown_waits, windows, lone = await steady(pg_url, 0.2)
    assert len(fixed_waits) == len(grown_waits) == 150
    assert max(windows) == 0.2, windows  # grew to the most it may, step by step
    assert windows[:3] == sorted(windows[:3]) and windows[0] < 0.06, windows[:5]
    assert len(grown) * 2 <= len(fixed), (grown, fixed)  # far fewer, fuller passes
    assert max(grown_waits) < 0.2 + 0.02 + 0.09, sorted(grown_waits)[-5:]  # window + pass, bounded
    assert lone < 0.02 + 0.05, lone  # idle again: the next commit went out at once, not after a window
    assert windows[-1] == 0.02, windows[-3:]  # and the next gathering starts small again


class _Durable:
    durable = True  # all the relay reads of its messaging when it is made


async def test_with_durable_messaging_the_window_stays_at_its_start(pg_url: str) -> None:
    """There the relay only publishes and the consumers gather their own batches (host.relay)."""
    async with migrated(pg_url) as storage:
        durable = Relay(storage, [], _Durable(), gather_seconds=0.005, gather_max_seconds=0.015)  # type: ignore[arg-type]
        local = Relay(storage, [], None, gather_seconds=0.005, gather_max_seconds=0.015)
    assert (durable.gather_max_seconds, local.gather_max_seconds) == (0.005, 0.015)
