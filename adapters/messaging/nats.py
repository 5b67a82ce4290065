"""Entry point ``messaging.nats``: events on NATS JetStream, durable and shared across processes.

The relay publishes each claimed batch to the stream ``{prefix}-events`` (file storage, limits
retention: events are kept 7 days whatever their consumers did; the outbox stays the record) on
subjects ``{prefix}.events.{partition}.{event_type}``, with the event id as ``Nats-Msg-Id`` (the
broker drops a re-publish within the duplicate window) and the outbox seq as ``Shifo-Seq``.
Module consumers pull per partition under a lease (:mod:`.nats_consume`, :mod:`.nats_leases`);
live feeds are a core subscription (:mod:`.nats_live`).

The connection is made on first use, not in :func:`create` (a synchronous factory): a broker that
is down makes calls raise :class:`core.errors.Unavailable`, and the next call tries again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Collection, Sequence
from typing import Any

from nats.aio.client import Client
from nats.errors import SlowConsumerError
from nats.js import JetStreamContext

from core.errors import Unavailable
from core.events import encode_event
from core.partitions import partition_of
from ports.messaging import Handle, MessagingStatus
from ports.storage import StoredEvent

from .nats_connection import BROKER_ERRORS, connect, log_error
from .nats_consume import GroupConsumption
from .nats_leases import Leases
from .nats_live import NatsSubscription
from .nats_names import Names, safe_name
from .nats_options import connect_options
from .nats_setup import ensure_stream, leases_bucket, stream_status

log = logging.getLogger("shifo.messaging.nats")


class NatsMessaging:
    name = "nats"
    durable = True

    def __init__(self, settings: Any, *, live_queue: int = 1000) -> None:
        self.settings = settings
        self.names = Names(safe_name(settings.nats_prefix))
        self.options = connect_options(settings)  # raises ConfigurationError before any I/O
        self.timeout = max(2.0, 2 * settings.nats_connect_timeout_seconds)
        self.ack_wait = float(settings.nats_ack_wait_seconds)
        self.member = uuid.uuid4().hex[:12]
        self.live_queue = live_queue
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._lock = asyncio.Lock()
        self._subscriptions: set[NatsSubscription] = set()
        self._groups: list[GroupConsumption] = []

    async def _connected(self) -> tuple[Client, JetStreamContext]:
        async with self._lock:
            if self._nc is None or self._nc.is_closed:
                try:
                    nc = await connect(self.options, self.timeout, error_cb=self._on_error,
                                       reconnected_cb=self._on_reconnected)
                except BROKER_ERRORS as exc:
                    raise Unavailable(f"message bus not reachable ({exc.__class__.__name__})") from exc
                self._nc, self._js = nc, nc.jetstream(timeout=self.timeout)
                try:
                    await ensure_stream(self._js, self.names, self.settings)
                except BROKER_ERRORS as exc:
                    raise Unavailable(f"message bus stream not ready ({exc.__class__.__name__})") from exc
            assert self._js is not None
            return self._nc, self._js

    async def _on_error(self, exc: Exception) -> None:
        if isinstance(exc, SlowConsumerError):
            for sub in self._subscriptions:
                if sub.sub is exc.sub:
                    sub.missed()
        await log_error(exc)

    async def _on_reconnected(self) -> None:
        log.warning("message bus reconnected: live subscribers resume from the outbox")
        for sub in list(self._subscriptions):
            sub.missed()

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        _, js = await self._connected()
        futures: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout(self.timeout):
                for stored in events:  # one connection, in seq order: the stream keeps that order
                    event = stored.event
                    subject = self.names.subject(partition_of(event.patient, event.id), event.event_type())
                    futures.append(await js.publish_async(subject, encode_event(event), headers={
                        "Nats-Msg-Id": str(event.id), "Shifo-Seq": str(stored.seq)}))
                await asyncio.gather(*futures)
        except BROKER_ERRORS as exc:
            for future in futures:
                future.cancel()
            raise Unavailable(f"message bus did not store the events ({exc.__class__.__name__})") from exc

    async def consume(self, group: str, event_types: Collection[str], handle: Handle, *,
                      batch: int = 100) -> GroupConsumption:
        nc, js = await self._connected()
        try:
            kv, ttl = await leases_bucket(js, self.names, self.ack_wait, self.settings.nats_replicas)
            consumption = GroupConsumption(
                nc, js, self.names, group, sorted(event_types), handle,
                leases=Leases(kv, group, self.member, ttl, js=js, bucket=self.names.leases),
                batch=batch, ack_wait=self.ack_wait,
                backoff=float(getattr(self.settings, "relay_backoff_seconds", 0.5)))
            if event_types:
                await consumption.start()
        except BROKER_ERRORS as exc:
            raise Unavailable(f"message bus consumer not ready ({exc.__class__.__name__})") from exc
        self._groups.append(consumption)
        return consumption

    async def subscribe(self, event_types: Collection[str] | None = None) -> NatsSubscription:
        nc, _ = await self._connected()
        sub = NatsSubscription(frozenset(event_types) if event_types else None, self.live_queue,
                               self._subscriptions.discard)
        try:
            sub.sub = await nc.subscribe(self.names.subjects, cb=sub.on_message)
        except BROKER_ERRORS as exc:
            raise Unavailable(f"message bus subscription failed ({exc.__class__.__name__})") from exc
        self._subscriptions.add(sub)
        return sub

    async def status(self) -> MessagingStatus:
        _, js = await self._connected()
        try:
            stream, groups = await stream_status(js, self.names)
        except BROKER_ERRORS as exc:
            raise Unavailable(f"message bus status not available ({exc.__class__.__name__})") from exc
        return MessagingStatus(adapter=self.name, durable=self.durable, stream=stream, groups=groups)

    async def ping(self) -> None:
        nc, _ = await self._connected()
        if not nc.is_connected:
            raise Unavailable("message bus not connected")
        try:
            await nc.flush(timeout=self.timeout)
        except BROKER_ERRORS as exc:
            raise Unavailable(f"message bus did not answer ({exc.__class__.__name__})") from exc

    async def close(self) -> None:
        """Consumers first (batches in hand are acknowledged, leases handed back), then live
        subscriptions, then the connection is drained."""
        for group in self._groups:
            await group.close()
        self._groups.clear()
        for sub in list(self._subscriptions):
            await sub.close()
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            try:
                await asyncio.wait_for(nc.drain(), self.timeout)
            except BROKER_ERRORS:
                await nc.close()


def create(settings: Any) -> NatsMessaging:
    return NatsMessaging(settings)
