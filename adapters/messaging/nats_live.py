"""messaging.nats: live subscriptions, a plain (core NATS) subscription on the event subjects.

JetStream publishes reach core subscribers too, so a live feed costs the broker no consumer state.
It is best effort: a full queue, a slow-consumer drop by the client or a reconnect put one ``None``
in the stream ("you may have missed events"), and the subscriber re-reads the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from nats.aio.msg import Msg

from core.events import decode_event
from ports.storage import StoredEvent

from .nats_names import Names

log = logging.getLogger("shifo.messaging.nats")

_END = object()  # close(): the iterator ends


def decode_message(msg: Msg) -> StoredEvent:
    """A StoredEvent from an event message (seq from the Shifo-Seq header); raises on junk."""
    _, event_type = Names.split(msg.subject)
    seq = int((msg.headers or {})["Shifo-Seq"])
    return StoredEvent(seq, decode_event(event_type, msg.data))


class NatsSubscription:
    def __init__(self, types: frozenset[str] | None, maxsize: int, on_close: Callable[[Any], None]) -> None:
        self.types = types
        self.sub: Any = None  # the client's subscription, set once subscribed
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize)
        self._missed = False
        self._closed = False
        self._on_close = on_close

    def missed(self) -> None:
        """Some events may not have reached us (reconnect, dropped by the client)."""
        self._missed = True
        self._flush_missed()

    def _flush_missed(self) -> bool:
        if self._missed and self._queue.qsize() < self._queue.maxsize - 1:
            self._queue.put_nowait(None)
            self._missed = False
        return not self._missed

    async def on_message(self, msg: Msg) -> None:
        if self._closed:
            return
        try:
            _, event_type = Names.split(msg.subject)
        except ValueError:
            return
        if self.types is not None and event_type not in self.types:
            return
        try:
            stored = decode_message(msg)
        except Exception as exc:  # one bad message must not end the feed
            log.error("live event on %s not decodable (%s): skipped", msg.subject, exc.__class__.__name__)
            self.missed()
            return
        if not self._flush_missed() or self._queue.full():
            self._missed = True  # dropped: the subscriber will hear so once there is room
            return
        self._queue.put_nowait(stored)

    async def __aiter__(self) -> AsyncIterator[StoredEvent | None]:
        while (item := await self._queue.get()) is not _END:
            yield cast(StoredEvent | None, item)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._on_close(self)
        if self.sub is not None:
            with contextlib.suppress(Exception):  # the connection may be gone already
                await self.sub.unsubscribe()
        if self._queue.full():  # make room for the end marker: the subscriber is leaving anyway
            self._queue.get_nowait()
        self._queue.put_nowait(_END)
