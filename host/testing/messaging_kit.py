"""The messaging port's contract kit: the cases every ``messaging.<name>`` adapter must pass.

The kit drives the adapter *through the host's event pipeline* (:mod:`host.pipeline`: the outbox
relay and, on a durable adapter, the module consumers) over a real database, with two recording
consumers whose effects are rows in a table of the kit's own. Use it from an adapter package's
tests (pytest and pytest-asyncio)::

    from host.testing.messaging_kit import MessagingContract, MessagingKitSubject

    class TestMyAdapter(MessagingContract):
        @pytest.fixture
        async def messaging_kit_subject(self, pg_url):
            yield MessagingKitSubject(database_url=pg_url,
                                      make_messaging=lambda: my_adapter.create(my_settings))

``make_messaging`` returns a fresh adapter instance on every call: the kit calls it once per
"process" (a restart, a second consumer process). Adapter settings for tests should make
redelivery quick (an ack wait of about a second). The cases: each patient's events in commit
order (with two consumer processes at once on a durable adapter); a crash mid-batch loses no
event and applies none twice; a failing handler is redelivered until it succeeds; one that
always fails is parked, listed, and delivered once after ``outbox.retry()``; everything pending
is delivered after a restart; live subscribers see every relayed event. See ``docs/adapters.md``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from host.testing.messaging_world import EFFECTS, NOTED, KitWorld, Noted
from ports.messaging import Messaging

__all__ = ["EFFECTS", "NOTED", "KitWorld", "MessagingContract", "MessagingKitSubject", "Noted"]
PATIENTS = [f"7{i:013d}" for i in range(6)]


@dataclass
class MessagingKitSubject:
    database_url: str
    #: a fresh adapter instance per call (sync or async): one per simulated process
    make_messaging: Callable[[], Messaging | Awaitable[Messaging]]
    within: float = 20.0  # seconds the kit waits for deliveries before failing a case
    #: the host's consumer grouping on a durable adapter (``SHIFO_CONSUMER_GROUPS``): the cases
    #: hold for both; an adapter's tests may run them for each
    consumer_groups: str = "shared"


async def _made(subject: MessagingKitSubject) -> Messaging:
    made = subject.make_messaging()
    return await made if inspect.isawaitable(made) else made


@pytest.mark.asyncio
class MessagingContract:
    """Subclass and provide the ``messaging_kit_subject`` fixture; every test here must pass."""

    @pytest.fixture
    async def kit(self, messaging_kit_subject: MessagingKitSubject) -> AsyncIterator[KitWorld]:
        subject = messaging_kit_subject
        world = KitWorld(subject.database_url, lambda: _made(subject), within=subject.within,
                         consumer_groups=subject.consumer_groups)
        await world.open()
        try:
            yield world
        finally:
            await world.close()

    async def test_each_patients_events_are_handled_in_commit_order(self, kit: KitWorld) -> None:
        await kit.start()
        if await kit.durable():  # a second consumer (and relay) process at once
            await kit.start()
        n = 0
        for _ in range(15):
            events = []
            for patient in PATIENTS[n % 2::2]:  # interleaved, several patients per commit
                n += 1
                events.append(Noted(n=n, patient=patient))
            await kit.write(*events)
        await kit.settled({"kit.effects": n, "kit.evens": n // 2})
        rows = await kit.effects()
        for consumer in ("kit.effects", "kit.evens"):
            mine = [(p, k) for c, p, k in rows if c == consumer]
            assert len(mine) == len(set(mine)), "an event applied twice"
            for patient in PATIENTS:
                got = [k for p, k in mine if p == patient]
                assert got == sorted(got), f"{consumer}: {patient}'s events out of commit order: {got}"

    async def test_a_crash_mid_batch_loses_nothing_and_applies_nothing_twice(self, kit: KitWorld) -> None:
        await kit.write(*(Noted(n=n, patient=PATIENTS[n % 2]) for n in range(1, 21)))
        kit.block_at = 8  # the handler waits there, inside its batch's transaction
        crashed = await kit.start()
        await asyncio.wait_for(kit.blocked.wait(), kit.within)
        await kit.crash(crashed)  # as if the process died: nothing after that point commits
        kit.block_at = None
        await kit.start()  # a new process
        await kit.settled({"kit.effects": 20, "kit.evens": 10})
        assert Counter(await kit.effects()).most_common(1)[0][1] == 1, "an event applied twice"

    async def test_a_failing_handler_is_redelivered_until_it_succeeds(self, kit: KitWorld) -> None:
        kit.failing[3] = 4  # its first four calls fail (shared, alone, then retries), then it succeeds
        await kit.start()
        await kit.write(*(Noted(n=n, patient=PATIENTS[0]) for n in range(1, 7)))
        await kit.settled({"kit.effects": 6, "kit.evens": 3})
        await kit.until(lambda: kit.failures(parked_only=False), want=[])
        assert kit.calls[3] == 5 and len(set(await kit.effects())) == 9

    async def test_a_handler_that_keeps_failing_is_parked_then_retried_once(self, kit: KitWorld) -> None:
        kit.failing[2] = -1  # for ever
        await kit.start()
        await kit.write(*(Noted(n=n, patient=PATIENTS[1]) for n in range(1, 5)))
        await kit.settled({"kit.effects": 3, "kit.evens": 2})
        [parked] = await kit.until(lambda: kit.failures(parked_only=True))
        assert (parked.consumer, parked.event_type, parked.attempts) == ("kit.effects", NOTED,
                                                                         kit.settings.relay_max_attempts)
        kit.failing.clear()  # the handler is fixed
        assert await kit.storage.outbox.retry() == 1
        await kit.settled({"kit.effects": 4, "kit.evens": 2})
        await kit.until(lambda: kit.failures(parked_only=False), want=[])
        assert Counter(await kit.effects()).most_common(1)[0][1] == 1

    async def test_everything_pending_is_delivered_after_a_restart(self, kit: KitWorld) -> None:
        first = await kit.start(consumers=False)  # relayed (durable: to the broker), not consumed
        await kit.write(*(Noted(n=n, patient=PATIENTS[n % 3]) for n in range(1, 11)))
        await kit.until(kit.pending, want=0)
        await kit.stop(first)
        await kit.write(*(Noted(n=n, patient=PATIENTS[n % 3]) for n in range(11, 21)))  # nothing runs
        await kit.start()  # a new adapter instance, relay and consumers
        await kit.settled({"kit.effects": 20, "kit.evens": 10})
        assert Counter(await kit.effects()).most_common(1)[0][1] == 1

    async def test_live_subscribers_see_every_relayed_event(self, kit: KitWorld) -> None:
        pipeline = await kit.start()
        subscription = await pipeline.messaging.subscribe([NOTED])
        written = [Noted(n=n, patient=PATIENTS[n % 2]) for n in range(1, 6)]
        await kit.write(*written)
        seen: list[Any] = []
        async with asyncio.timeout(kit.within):
            async for stored in subscription:
                if stored is not None:  # None: "re-read the outbox", allowed at any time
                    seen.append(stored)
                if len(seen) == len(written):
                    break
        await subscription.close()
        assert [s.event.id for s in seen] == [e.id for e in written]
        assert [s.seq for s in seen] == sorted(s.seq for s in seen) and seen[0].seq > 0
