"""The outbox relay: hands committed events on, to module consumers and to live subscribers.

Woken right after every commit that published events (and polled as a fallback for events
committed by other processes), it runs passes (:mod:`host.relay_pass`: what a pass claims, what
it does with a batch on either messaging adapter, the floor, due retries). Several relays share
the work; if a claim found partitions with pending rows busy (held by another relay), the next
pass comes soon rather than at the poll, so an event committed as another relay finished its batch
is not left waiting.

**Gathering.** When idle, a wake-up is served at once (an isolated commit goes out without delay).
After a full batch the next pass follows at once (its events are already waiting). Only when a
commit woke the relay while it was passing does it gather: the next pass starts a window after
*that first commit*, not after the pass, so commits arriving together share a claim and a
transaction while no event waits longer than the window plus one pass. The window starts at
``gather_seconds`` and grows by a tenth of the way to ``gather_max_seconds`` with each pass that
finds the relay still busy; the first time it finds it idle, it is back at ``gather_seconds``.
So at light and moderate load (the relay often idle) an event waits at most about
``gather_seconds`` plus a pass, while a process saturated with writes (the relay never idle, a
pass's fixed statements costing about what a request does) gathers several times as many commits
per pass and spends its CPU on requests. With durable messaging (nats) the window does not grow:
there a pass only publishes, the consumers gather their own batches, and a growing window put a
cross-process stream's p99 at half load over the 20 ms goal (21.6 ms; 13.8 ms with it fixed).

On a timer, not on every wake-up, a pass also runs due retries (unless the adapter is durable)
and raises the floor (:meth:`host.relay_pass.Passes.settle`); every ``FULL_SCAN_SECONDS`` that
pass starts from the bottom.

A pass that fails (the database or the broker away) is logged once per outage, not per pass, and
the relay backs off, doubling its pause up to ``MAX_PAUSE_SECONDS``; a commit's wake-up cuts it
short.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging

from core.errors import OutcomeUnknown, Unavailable
from host.delivery import Deliveries, consumers_of
from host.pluginapi import EventHandler
from host.relay_pass import Passes
from ports.messaging import Messaging
from ports.storage import Storage

__all__ = ["MAX_PAUSE_SECONDS", "Relay", "consumers_of"]  # host.consumers imports the last from here

log = logging.getLogger("shifo.relay")
FULL_SCAN_SECONDS = 10.0
MAX_PAUSE_SECONDS = 10.0  # the longest wait between passes while they fail
BUSY_SECONDS = 0.005  # the next pass after partitions with pending rows were held by another relay


class Relay:
    def __init__(self, storage: Storage, handlers: list[EventHandler], messaging: Messaging | None = None,
                 *, batch: int = 200, poll_seconds: float = 1.0, max_attempts: int = 5,
                 backoff_seconds: float = 0.5, gather_seconds: float = 0.0,
                 gather_max_seconds: float | None = None) -> None:
        self.storage = storage
        self.poll_seconds = poll_seconds
        self.backoff_seconds = backoff_seconds
        self.gather_seconds = gather_seconds
        self.gather_max_seconds = max(gather_seconds, gather_max_seconds or 0.0)
        self.window = gather_seconds  # the gather window now (see the module docstring)
        self.deliveries = Deliveries(storage, consumers_of(handlers), max_attempts=max_attempts,
                                     backoff_seconds=backoff_seconds)
        self._wake = asyncio.Event()
        self._woken_at: float | None = None  # when the pending wake-up came (read while it is set)
        self._passes = Passes(storage, self.deliveries, messaging, batch=batch, wake=self._wake)
        self.durable = self._passes.durable  # then it only publishes
        if self.durable:  # its passes only publish, and the consumers gather their own batches:
            self.gather_max_seconds = gather_seconds  # a longer window would only delay the streams
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def passes(self) -> int:
        """Passes run (a pass claims until a batch comes back short)."""
        return self._passes.count

    @property
    def floor(self) -> int:
        """Every event with ``seq`` at or below it is delivered; passes after a commit claim above it."""
        return self._passes.floor

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
                    await self._passes.settle(full)
                else:
                    await self._passes.drain(retries=False, after=self._passes.floor)
                if failing_since is not None:
                    log.warning("relay resumed after %.1f s", loop.time() - failing_since)
                    pause, failing_since = retry_every, None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away: keep the relay alive, back off
                self._failed(exc, first=failing_since is None, pause=pause)
                failing_since = loop.time() if failing_since is None else failing_since
                pause, next_retry = min(pause * 2, MAX_PAUSE_SECONDS), 0.0
                self._passes.backlog = self._passes.busy = False
                self._wake.clear()  # a commit from now on cuts the pause short
            if failing_since is None and (self._passes.backlog or self._wake.is_set()):
                # a backlog: the commits arriving meanwhile share the next pass, which starts
                # the window after the first of them (at once after a full batch)
                woken = self._woken_at if self._wake.is_set() else None
                if woken is not None:
                    self.window = min(self.window + (self.gather_max_seconds - self.gather_seconds) / 10,
                                      self.gather_max_seconds)
                    await asyncio.sleep(max(0.0, woken + self.window - loop.time()))
                continue
            self.window = self.gather_seconds  # idle: the next gathering starts small again
            wait = pause if failing_since is not None else BUSY_SECONDS if self._passes.busy else retry_every
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

    async def drain(self, *, retries: bool = True, after: int = -1) -> int:
        """One pass now (see :meth:`host.relay_pass.Passes.drain`); returns events dispatched."""
        return await self._passes.drain(retries=retries, after=after)
