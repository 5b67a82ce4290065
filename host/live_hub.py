"""The process's live feed for patient streams: one messaging subscription shared by every open stream.

A patient stream (:mod:`host.web.patient_stream`) joins the hub with its patient. The hub subscribes
to the messaging port once, on the first stream (and again whenever the subscription ends while the
runtime runs: a broker outage), and hands on what arrives:

* an event of a patient with open streams wakes those streams and the shared outbox
  :class:`~host.outbox_horizon.Horizon`, as a local commit does: that is how a commit of another
  process reaches a stream here, with no poll of the outbox. The stream notes the event's ``seq``
  (:attr:`Listener.top`): it is "behind" until the horizon has passed it;
* ``None`` ("some events may have been missed") and a new subscription after a lost one wake every
  stream and mark it :attr:`~Listener.unsure`: it re-reads its patient's rows until the horizon has
  settled, since it cannot know which events it missed.

A local commit (``Storage.on_commit``) wakes every stream too, as soon as it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection

from core.errors import Unavailable
from host.outbox_horizon import Horizon
from ports.messaging import Messaging
from ports.storage import StoredEvent

log = logging.getLogger("shifo.patient.stream")
JOIN_SECONDS = 5.0  # a stream waits this long for the first subscription, else 503
RETRY_SECONDS = (0.1, 2.0)  # backoff between attempts to subscribe again: first, most


class Listener:
    """One open stream's mailbox: rung when something may concern its patient."""

    def __init__(self, pinfl: str) -> None:
        self.pinfl = pinfl
        self.top = -1  # the highest seq of the patient that arrived live
        self.unsure = False  # events may have been missed: re-read until the horizon settles
        self.signal = asyncio.Event()  # clear it before reading, then wait on it


class LiveHub:
    def __init__(self, messaging: Messaging, horizon: Horizon, event_types: Collection[str] | None,
                 running: Callable[[], bool]) -> None:
        self.messaging, self.horizon, self.event_types = messaging, horizon, event_types
        self._running = running
        self._streams: dict[str, set[Listener]] = {}
        self._task: asyncio.Task[None] | None = None
        self._live = asyncio.Event()  # set while subscribed
        self._loop = asyncio.get_running_loop()

    async def join(self, pinfl: str) -> Listener:
        """Register a stream of ``pinfl``; returns once the subscription stands (events published
        from then on reach it), or raises :class:`Unavailable` when messaging cannot be reached."""
        listener = Listener(pinfl)
        self._streams.setdefault(pinfl, set()).add(listener)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="patient-stream-hub")
        try:
            async with asyncio.timeout(JOIN_SECONDS):
                await self._live.wait()
        except TimeoutError:
            self.leave(listener)
            raise Unavailable("live events cannot be received just now") from None
        self.horizon.wake()  # it is woken only for patients with streams: it may be behind
        return listener

    def leave(self, listener: Listener) -> None:
        mine = self._streams.get(listener.pinfl)
        if mine is not None:
            mine.discard(listener)
            if not mine:
                del self._streams[listener.pinfl]

    def committed(self) -> None:
        """A local commit published events (``Storage.on_commit``); safe from another thread."""
        self.horizon.wake()
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if here is self._loop:
            self._ring_all()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._ring_all)

    # --- the subscription ------------------------------------------------------------------

    async def _run(self) -> None:
        delay, lost = RETRY_SECONDS[0], False
        while self._running() and self._streams:
            try:
                subscription = await self.messaging.subscribe(self.event_types)
            except Exception as exc:  # the broker is away: streams keep their place, and wait
                log.warning("live events: cannot subscribe (%s); trying again", type(exc).__name__)
                await asyncio.sleep(delay)
                delay, lost = min(delay * 2, RETRY_SECONDS[1]), True
                continue
            self._live.set()
            delay = RETRY_SECONDS[0]
            if lost:  # whatever was published meanwhile did not reach us
                self._missed()
            try:
                async for item in subscription:
                    if item is None:
                        self._missed()
                    else:
                        self._arrived(item)
            except Exception as exc:
                log.warning("live events: the subscription failed (%s)", type(exc).__name__)
            finally:
                self._live.clear()
                with contextlib.suppress(Exception):
                    await subscription.close()
            lost = True
        self._ring_all()  # the runtime stops (the streams see it and end), or nobody listens

    def _arrived(self, stored: StoredEvent) -> None:
        mine = self._streams.get(stored.event.patient or "")
        if not mine:
            return
        self.horizon.wake()  # before the streams read it: their next read is fresh
        for listener in mine:
            listener.top = max(listener.top, stored.seq)
            listener.signal.set()

    def _missed(self) -> None:
        self.horizon.wake()
        for mine in self._streams.values():
            for listener in mine:
                listener.unsure = True
                listener.signal.set()

    def _ring_all(self) -> None:
        for mine in self._streams.values():
            for listener in mine:
                listener.signal.set()
