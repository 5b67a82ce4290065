"""messaging.nats: the puller of one leased partition of one consumer group.

It fetches a batch, hands it to ``handle`` and acknowledges it once ``handle`` returned. When
``handle`` raises, it waits a backoff (doubling, capped) and then naks the batch in order: the
broker offers redeliveries before new messages, so no later event of the partition is handled
first. (A nak with a delay instead could let a later message overtake a redelivery not yet due.)
A message that cannot be decoded (an event type this process does not know) is logged and
acknowledged: the outbox keeps the event, and it is not handed on half-read.

A puller that takes over a partition first looks at the consumer's unacknowledged messages: some
may be a batch the previous holder (or a fetch that expired as they arrived) never acknowledged.
With any pending, it waits one ack wait, after which the broker offers them again ahead of newer
messages: so a hand-over never lets a later event of a patient overtake an earlier one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import nats

from core.errors import OutcomeUnknown, Unavailable
from ports.messaging import Handle
from ports.storage import StoredEvent

from .nats_connection import BROKER_ERRORS
from .nats_leases import Leases
from .nats_live import decode_message
from .nats_names import Names

log = logging.getLogger("shifo.messaging.nats")
MAX_BACKOFF_SECONDS = 30.0


class Puller:
    def __init__(self, nc: Any, js: Any, names: Names, group: str, handle: Handle, *, leases: Leases,
                 batch: int, fetch_timeout: float, backoff: float, ack_wait: float) -> None:
        self.nc, self.js, self.names, self.group, self.handle = nc, js, names, group, handle
        self.leases, self.batch, self.fetch_timeout, self.backoff = leases, batch, fetch_timeout, backoff
        self.ack_wait = ack_wait

    async def run(self, partition: int, stop: asyncio.Event) -> None:
        consumer = self.names.consumer(self.group, partition)
        try:
            sub = await self.js.pull_subscribe_bind(durable=consumer, stream=self.names.stream)
        except BROKER_ERRORS as exc:
            log.warning("nats consumer %s: %s", consumer, exc.__class__.__name__)
            return
        await self._settle_handover(consumer, stop)
        backoff = self.backoff
        try:
            while not stop.is_set() and self.leases.valid(partition):
                if not self.leases.valid(partition, for_seconds=self.fetch_timeout):
                    await _pause(stop, 0.05)  # a fetch must end while the lease is surely ours:
                    continue  # wait for the lease keeper's refresh (see Leases.valid)
                try:
                    msgs = await sub.fetch(self.batch, timeout=self.fetch_timeout)
                except (TimeoutError, nats.errors.TimeoutError):
                    continue  # nothing to pull just now
                except BROKER_ERRORS as exc:
                    log.warning("nats fetch %s: %s", consumer, exc.__class__.__name__)
                    await _pause(stop, 1.0)
                    continue
                if await self._handle(consumer, msgs):
                    backoff = self.backoff
                    continue
                await _pause(stop, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                await self._give_back(consumer, msgs, stop)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _give_back(self, consumer: str, msgs: list[Any], stop: asyncio.Event) -> None:
        """Nak the batch in order, and wait until the server has taken the last nak before the next
        fetch. The server queues acknowledgements apart from pull requests: a fetch sent right
        after plain naks was seen served with newer messages of the partition while the batch was
        still pending, so a patient's later event was handled before the redelivered earlier one.
        A nak sent as a request is answered once processed (acknowledgements of one consumer are
        processed in order), so after that answer the whole batch waits in the redelivery queue,
        which the server serves before anything new."""
        try:
            for msg in msgs[:-1]:
                await msg.nak()
            if msgs:
                await self.nc.request(msgs[-1].reply, b"-NAK", timeout=max(1.0, self.fetch_timeout * 2))
        except BROKER_ERRORS as exc:
            # not confirmed: the batch comes back after the ack wait at the latest; until then
            # nothing later may be pulled, so wait that out rather than risk overtaking it
            log.warning("nats nak %s not confirmed (%s): pausing one ack wait", consumer,
                        exc.__class__.__name__)
            await _pause(stop, self.ack_wait)

    async def _settle_handover(self, consumer: str, stop: asyncio.Event) -> None:
        """Wait out messages delivered before this puller took the partition (module docstring)."""
        try:
            info = await self.js.consumer_info(self.names.stream, consumer)
        except BROKER_ERRORS:
            return
        if info.num_ack_pending:
            log.info("nats %s: %d unacknowledged at hand-over; resuming after the ack wait",
                     consumer, info.num_ack_pending)
            await _pause(stop, self.ack_wait)

    async def _handle(self, consumer: str, msgs: list[Any]) -> bool:
        events: list[StoredEvent] = []
        for msg in msgs:
            try:
                events.append(decode_message(msg))
            except Exception as exc:  # see the module docstring
                log.error("nats %s: message on %s not decodable (%s): acknowledged, not handled",
                          consumer, msg.subject, exc)
        try:
            if events:
                await self.handle(events)
        except (Unavailable, OutcomeUnknown) as exc:  # the database away: one line, not a traceback
            log.warning("consumer group %s: a batch of %d goes back to the broker (%s)",
                        self.group, len(events), exc.detail)
            return False
        except Exception:  # retried after a backoff, never fatal
            log.exception("consumer group %s failed on a batch of %d; retrying after a backoff",
                          self.group, len(events))
            return False
        try:
            for msg in msgs:
                await msg.ack()
            await self.nc.flush(timeout=self.fetch_timeout * 2)
        except BROKER_ERRORS as exc:  # delivered again after ack_wait; the inbox check dedupes
            log.warning("nats ack %s: %s", consumer, exc.__class__.__name__)
        return True


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
