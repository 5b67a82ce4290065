"""The outbox relay: hands committed events on, to module consumers and to live subscribers.

Woken right after every commit that published events (and polled as a fallback for events
committed by other processes). A pass claims batches of pending events until one comes back short.
What it does with a batch depends on the messaging adapter (``ports.messaging``):

* **not durable** (``inprocess``): :class:`host.delivery.Deliveries` runs the module handlers,
  all consumers in the claim's own transaction, or, after a handler raised there, consumer by
  consumer; then the batch is published for live subscribers. Due retries run here too.
* **durable** (``nats``): no handler runs here. Inside the claim the batch is published and the
  broker's acknowledgements awaited, then the rows are marked delivered and the claim commits. A
  crash between the two publishes the batch again; the broker drops it by event id. Module
  consumers (:mod:`host.consumers`) take the events from the broker and run due retries.

Several relays share the work: a claim takes the partitions (``core.partitions``) no other relay
holds, so a claim may come back short while others work. If the storage says partitions with
pending rows were busy (``busy`` on the batch), the next pass comes soon rather than at the poll,
so an event committed as another relay finished its batch is not left waiting.

**Gathering.** When idle, a wake-up is served at once (an isolated commit goes out without delay).
After a full batch the next pass follows at once (its events are already waiting). Only when a
commit woke the relay while it was passing does it gather: the next pass starts
``gather_seconds`` after *that first commit*, not after the pass, so commits arriving together
share a claim and a transaction while no event waits longer than the window plus one pass.

A pass claims only events above the relay's *floor*: every event at or below it is delivered. On
the retry timer the relay reads the outbox horizon (:mod:`host.outbox_horizon`: no row at or
below it can still commit), drains, and then raises the floor to that horizon, so a pass right
after a commit never walks the delivered rows' dead index entries. A drain that skipped busy
partitions leaves the floor where it was: rows of those may still be pending below the horizon.
Every ``FULL_SCAN_SECONDS`` a pass starts from the bottom instead: it finds events re-queued by
``shifo events retry`` in another process, and a row whose writer held its ``seq`` past the
horizon's give-up time.

Due retries run in a claim of their own (the claim alone, no batch), so two relays never retry
the same delivery at once, and their outcome (cleared, or an attempt more and perhaps parked)
commits whatever the next batch does. A retried event reaches its consumer after later events of
the same patient: ordering is per patient for deliveries that succeed first time.

A pass that fails (the database or the broker away) is logged once per outage, not per pass, and
the relay backs off, doubling its pause up to ``MAX_PAUSE_SECONDS``; a commit's wake-up cuts it
short.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from core.errors import ConfigurationError, OutcomeUnknown, Unavailable
from core.events import Event
from host import delivery_metrics
from host.delivery import Deliveries, Refused
from host.outbox_horizon import Horizon
from host.pluginapi import EventHandler
from ports.messaging import Messaging
from ports.storage import Storage, StoredEvent

log = logging.getLogger("shifo.relay")
FULL_SCAN_SECONDS = 10.0
MAX_PAUSE_SECONDS = 10.0  # the longest wait between passes while they fail
BUSY_SECONDS = 0.02  # the next pass after partitions with pending rows were held by another relay


def consumers_of(handlers: list[EventHandler]) -> dict[str, EventHandler]:
    """The handlers by consumer name; a name may be registered once (it keys the inbox)."""
    consumers: dict[str, EventHandler] = {}
    for handler in handlers:
        if handler.consumer in consumers:  # they would share one idempotency record
            raise ConfigurationError(f"event consumer {handler.consumer!r} is registered twice")
        consumers[handler.consumer] = handler
    return consumers


class Relay:
    def __init__(
        self,
        storage: Storage,
        handlers: list[EventHandler],
        messaging: Messaging | None = None,
        *,
        batch: int = 200,
        poll_seconds: float = 1.0,
        max_attempts: int = 5,
        backoff_seconds: float = 0.5,
        gather_seconds: float = 0.0,
    ) -> None:
        self.storage = storage
        self.messaging = messaging
        self.durable = bool(messaging is not None and messaging.durable)  # then it only publishes
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.backoff_seconds = backoff_seconds
        self.gather_seconds = gather_seconds
        self.deliveries = Deliveries(storage, consumers_of(handlers), max_attempts=max_attempts,
                                     backoff_seconds=backoff_seconds)
        self.passes = 0  # passes run (a pass claims until a batch comes back short)
        self._floor = -1  # every event with seq <= floor is delivered (see the module docstring)
        self._horizon = Horizon(storage, patients=False)
        self._wake = asyncio.Event()
        self._backlog = False  # the last pass met a full batch or was woken meanwhile: go again
        self._woken_at: float | None = None  # the first wake-up since the last claim began
        self._busy = False  # the last claim found partitions with pending rows held elsewhere
        self._skipped = False  # some claim of the last pass did: its floor must not rise
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def floor(self) -> int:
        """Every event with ``seq`` at or below it is delivered; passes after a commit claim above it."""
        return self._floor

    def wake(self) -> None:
        """Called after a commit; safe from another thread or event loop (then it is forwarded)."""
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if self._loop is None or here is self._loop:
            self._woke()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._woke)

    def _woke(self) -> None:
        if not self._wake.is_set():
            self._woken_at = self._loop.time() if self._loop is not None else None
            self._wake.set()

    async def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self.storage.on_commit(self.wake)
        self._task = asyncio.create_task(self._run(), name="shifo-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        # due retries are looked up on a timer, not on every commit's wake-up: the hot path
        # should cost one claim per batch of events, not an extra query per request
        retry_every = min(self.poll_seconds, self.backoff_seconds, 1.0)
        next_retry = next_full = 0.0
        loop = asyncio.get_running_loop()
        pause, failing_since = retry_every, None  # after a failed pass: backing off since then
        while True:
            try:
                now = loop.time()
                if now >= next_retry:
                    next_retry = now + retry_every
                    full = now >= next_full
                    if full:
                        next_full = now + FULL_SCAN_SECONDS
                    await self._settle(full)
                else:
                    await self.drain(retries=False, after=self._floor)
                if failing_since is not None:
                    log.warning("relay resumed after %.1f s", loop.time() - failing_since)
                    pause, failing_since = retry_every, None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away: keep the relay alive, back off
                self._failed(exc, first=failing_since is None, pause=pause)
                failing_since = loop.time() if failing_since is None else failing_since
                pause, next_retry = min(pause * 2, MAX_PAUSE_SECONDS), 0.0
                self._backlog = self._busy = False
                self._wake.clear()  # a commit from now on cuts the pause short
            if failing_since is None and (self._backlog or self._wake.is_set()):
                # a backlog: the commits arriving meanwhile share the next pass, which starts
                # gather_seconds after the first of them (at once after a full batch)
                woken = self._woken_at if self._wake.is_set() else None
                if woken is not None:
                    await asyncio.sleep(max(0.0, woken + self.gather_seconds - loop.time()))
                continue
            wait = pause if failing_since is not None else BUSY_SECONDS if self._busy else retry_every
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that
            # arrives as the wake-up does, and stop() then waited for a relay that never ended
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    @staticmethod
    def _failed(exc: Exception, *, first: bool, pause: float) -> None:
        """One line when an outage begins (a commit's wake-up, or the doubling pause, tries
        again); a traceback only for a failure that is not an unreachable dependency."""
        if isinstance(exc, Unavailable | OutcomeUnknown):
            if first:
                log.error("relay paused: %s (backing off up to %.0f s)", exc.detail, MAX_PAUSE_SECONDS)
            else:
                log.debug("relay still paused: %s", exc.detail)
            return
        log.exception("relay pass failed; next pass in %.1f s", min(pause * 2, MAX_PAUSE_SECONDS))

    async def _settle(self, full: bool) -> None:
        """Due retries and a drain (from the bottom if ``full``), then the floor up to the horizon
        read before it: every row at or below that horizon was visible to the drain (unless a claim
        skipped partitions another relay held: then the floor stays)."""
        horizon = await self._horizon.catch_up()
        await self.drain(retries=True, after=-1 if full else self._floor)
        if not self._skipped:  # rows of partitions another relay held may still be pending
            self._floor = max(self._floor, horizon)

    async def drain(self, *, retries: bool = True, after: int = -1) -> int:
        """Due retries (``retries``; not with a durable adapter: its consumers run them), then
        everything pending now with ``seq > after``; returns events dispatched."""
        total = 0
        together = True
        self.passes += 1
        self._backlog = self._busy = self._skipped = False
        if retries and not self.durable:  # in a claim of their own: committed whatever the batch does
            async with self.storage.outbox.claim(0):
                await self.deliveries.retry_due(self.batch)
        while True:
            self._wake.clear()  # a commit from here on wakes the next pass
            self._woken_at = None
            handled: list[tuple[str, list[Event]]] = []
            try:
                async with self.storage.outbox.claim(self.batch, after) as claimed:
                    batch = claimed.events
                    self._busy = bool(getattr(claimed, "busy", False))
                    self._skipped = self._skipped or self._busy
                    seqs = [s.seq for s in batch]
                    if self.durable:
                        if batch:  # stored by the broker before the rows are marked
                            await self._publish(batch)
                        await claimed.delivered(seqs)
                    elif together and batch:
                        async with claimed.transaction() as tx:
                            handled = await self.deliveries.all_in([(s.seq, s.event) for s in batch], tx)
                            await claimed.delivered(seqs)
                    else:
                        await self.deliveries.by_consumer([(s.seq, s.event) for s in batch])
                        await claimed.delivered(seqs)
            except Refused:
                together = False  # all rolled back: this batch again, consumer by consumer
                continue
            together = True
            delivery_metrics.handled_each(handled)  # the claim has committed
            total += len(batch)
            if not self.durable and batch:
                await self._live(batch)
            if len(batch) < self.batch:
                self._backlog = self._backlog or self._wake.is_set()
                return total
            self._backlog = True

    async def _publish(self, batch: Sequence[StoredEvent]) -> None:
        assert self.messaging is not None
        await self.messaging.publish(batch)  # raises Unavailable: the claim rolls back

    async def _live(self, batch: Sequence[StoredEvent]) -> None:
        """After the commit: live subscribers only (they resume from the outbox if they miss it)."""
        if self.messaging is None:
            return
        try:
            await self.messaging.publish(batch)
        except Exception:
            log.exception("publishing %d events to live subscribers failed", len(batch))
