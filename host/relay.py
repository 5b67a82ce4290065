"""The outbox relay: delivers committed events to module handlers, then to live subscribers.

Woken right after every commit that published events, then pausing ``gather_seconds`` so commits
arriving together share a pass (and polled as a fallback for events committed by other
processes). A pass claims batches of pending events until one comes back short and hands each to
:class:`host.delivery.Deliveries`: all consumers in the claim's own transaction, or, after a
handler raised there, consumer by consumer. Parked deliveries are listed by ``shifo events
failed`` and re-queued by ``events retry``.

A pass claims only events above the relay's *floor*: every event at or below it is delivered. On
the retry timer the relay reads the outbox horizon (:mod:`host.outbox_horizon`: no row at or
below it can still commit), drains, and then raises the floor to that horizon, so a pass right
after a commit never walks the delivered rows' dead index entries. Every ``FULL_SCAN_SECONDS`` a
pass starts from the bottom instead: it finds events re-queued by ``shifo events retry`` in
another process, and a row whose writer held its ``seq`` past the horizon's give-up time.

Due retries run in a claim of their own (the claim alone, no batch), so two relays never retry
the same delivery at once, and their outcome (cleared, or an attempt more and perhaps parked)
commits whatever the next batch does. A retried event reaches its consumer after later events of
the same patient: ordering is per patient for deliveries that succeed first time.

A pass that fails (the database away) is logged once per outage, not per pass, and the relay
backs off, doubling its pause up to ``MAX_PAUSE_SECONDS``; a commit's wake-up cuts it short.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging

from core.errors import ConfigurationError, OutcomeUnknown, Unavailable
from host.delivery import Batch, Deliveries, Refused
from host.outbox_horizon import Horizon
from host.pluginapi import EventHandler
from ports.messaging import Messaging
from ports.storage import Storage

log = logging.getLogger("shifo.relay")
FULL_SCAN_SECONDS = 10.0
MAX_PAUSE_SECONDS = 10.0  # the longest wait between passes while they fail


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
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.backoff_seconds = backoff_seconds
        self.gather_seconds = gather_seconds
        consumers: dict[str, EventHandler] = {}
        for handler in handlers:
            if handler.consumer in consumers:  # they would share one idempotency record
                raise ConfigurationError(f"event consumer {handler.consumer!r} is registered twice")
            consumers[handler.consumer] = handler
        self.deliveries = Deliveries(storage, consumers, max_attempts=max_attempts,
                                     backoff_seconds=backoff_seconds)
        self._floor = -1  # every event with seq <= floor is delivered (see the module docstring)
        self._horizon = Horizon(storage, patients=False)
        self._wake = asyncio.Event()
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
            self._wake.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

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
                self._wake.clear()  # a commit from now on cuts the pause short
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that
            # arrives as the wake-up does, and stop() then waited for a relay that never ended
            woken = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(retry_every if failing_since is None else pause):
                    await self._wake.wait()
                    woken = True
            if woken and self.gather_seconds > 0:
                # commits arriving together then share one pass: at one request at a time the
                # relay otherwise ran a claim and a transaction per consumer for every event
                await asyncio.sleep(self.gather_seconds)

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
        read before it: every row at or below that horizon was visible to the drain."""
        horizon = await self._horizon.catch_up()
        await self.drain(retries=True, after=-1 if full else self._floor)
        self._floor = max(self._floor, horizon)

    async def drain(self, *, retries: bool = True, after: int = -1) -> int:
        """Deliver due retries (``retries``), then everything pending now with ``seq > after``;
        returns events dispatched."""
        total = 0
        together = True
        if retries:  # in a claim of their own: committed whatever the batch does
            async with self.storage.outbox.claim(0):
                await self.deliveries.retry_due(self.batch)
        while True:
            self._wake.clear()  # a commit from here on wakes the next pass
            try:
                async with self.storage.outbox.claim(self.batch, after) as claimed:
                    batch = [(s.seq, s.event) for s in claimed.events]
                    if together and batch:
                        async with claimed.transaction() as tx:
                            await self.deliveries.all_in(batch, tx)
                            await claimed.delivered([seq for seq, _ in batch])
                    else:
                        await self.deliveries.by_consumer(batch)
                        await claimed.delivered([seq for seq, _ in batch])
            except Refused:
                together = False  # all rolled back: this batch again, consumer by consumer
                continue
            together = True
            total += len(batch)
            await self._publish(batch)
            if len(batch) < self.batch:
                return total

    async def _publish(self, batch: Batch) -> None:
        if self.messaging is None:
            return
        for _, event in batch:
            try:
                await self.messaging.publish(event)
            except Exception:  # live subscribers resume from the outbox
                log.exception("publishing %s to messaging failed", event.id)
