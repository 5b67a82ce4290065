"""How a batch of events reaches the modules' handlers (the relay or the consumers decide when).

Usually every consumer takes the batch in the claim's own transaction, which also marks the batch
delivered: one commit per batch. That transaction records nothing in the inbox: once it commits
the events are never claimed again, and if it does not, nothing of it happened. If a handler
raises, all of it rolls back and the batch is delivered again consumer by consumer, each in a
transaction of its own that records (consumer, event id) in the inbox, and one event at a time
for a consumer whose batch failed, so a failure stays with its consumer and event. On SQLite
those transactions commit apart from the mark, so a crash between them offers the batch again:
the claim's transaction reads the inbox for pairs handled that way. On PostgreSQL they are
savepoints of the claim's transaction (the storage never gives the claim's task a second
connection while it holds the relay's lock; see ``adapters.storage.claimed``), so they commit
with the mark or not at all, a pending event is in no inbox, and the claim does not read it
(``OutboxBatch.recorded_apart``). A delivery that keeps failing is retried with exponential
backoff and parked after ``max_attempts``: due retries run in a claim of their own
(:meth:`host.relay.Relay.drain`, or the consumers' retry loop with a durable adapter), so their
outcome commits even when the batch claimed next rolls back.

With a durable adapter each consumer takes its events from the broker (:mod:`host.consumers`):
:meth:`Deliveries.of_consumer` applies one consumer's batch in one transaction with the inbox
check and, if a handler fails, one event per transaction with its failure recorded, as above.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import UUID

from core.clock import utcnow
from core.errors import ConfigurationError, OutcomeUnknown, Unavailable
from core.events import Event
from host import delivery_metrics
from host.pluginapi import EventHandler
from ports.storage import Storage, Transaction

log = logging.getLogger("shifo.relay")
MAX_BACKOFF_SECONDS = 3600.0
Batch = list[tuple[int, Event]]  # (outbox seq, event) in commit order


class Refused(Exception):
    """A handler failed while every consumer shared the claim's transaction."""


def consumers_of(handlers: list[EventHandler]) -> dict[str, EventHandler]:
    """The handlers by consumer name; a name may be registered once (it keys the inbox)."""
    consumers: dict[str, EventHandler] = {}
    for handler in handlers:
        if handler.consumer in consumers:  # they would share one idempotency record
            raise ConfigurationError(f"event consumer {handler.consumer!r} is registered twice")
        consumers[handler.consumer] = handler
    return consumers


def offered(handler: EventHandler, event: Event) -> bool:
    """Does ``handler`` take ``event``? (``all_in`` finds a type's consumers once per batch.)"""
    return event.event_type() in handler.event_types and (
        handler.accepts is None or handler.accepts(event))


async def _apply(handler: EventHandler, new: list[Event], tx: Transaction) -> None:
    """The consumer's new events, in commit order: at once if it takes batches."""
    if handler.handle_batch is not None:
        await handler.handle_batch(new, tx)
    else:
        for event in new:
            await handler.handle(event, tx)


class Deliveries:
    def __init__(self, storage: Storage, consumers: dict[str, EventHandler], *, max_attempts: int,
                 backoff_seconds: float) -> None:
        self.storage, self.consumers = storage, consumers
        self.max_attempts, self.backoff_seconds = max_attempts, backoff_seconds
        self._takers: dict[str, list[EventHandler]] = {}  # event type -> consumers of it, in order

    def _taking(self, kind: str) -> list[EventHandler]:
        takers = self._takers.get(kind)
        if takers is None:
            takers = self._takers[kind] = [h for h in self.consumers.values() if kind in h.event_types]
        return takers

    async def all_in(self, batch: Batch, tx: Transaction, *,
                     inbox: bool = True) -> list[tuple[str, list[Event]]]:
        """Every consumer's events of the batch in ``tx`` (the claim's); raises Refused if one fails.
        ``inbox=False``: no event of the batch can be in an inbox yet (``OutboxBatch.recorded_apart``),
        so none is looked up. Returns what each consumer handled, for
        :func:`delivery_metrics.handled_each` once ``tx`` has committed."""
        # each event goes to the consumers of its type, looked up once per type: not every one of
        # a dozen consumers asked about every event (the hot path of every write)
        mine: dict[str, list[Event]] = {}
        for _, event in batch:
            for handler in self._taking(event.event_type()):
                if handler.accepts is None or handler.accepts(event):
                    events = mine.get(handler.consumer)
                    if events is None:
                        events = mine[handler.consumer] = []
                    events.append(event)
        return await self._apply_all(mine, tx, record=False, inbox=inbox)

    async def each_in(self, batches: list[tuple[EventHandler, Batch]],
                      tx: Transaction) -> list[tuple[str, list[Event]]]:
        """Several consumers' batches (from the broker's pullers, :mod:`host.consumer_gather`) in
        ``tx``; a consumer's batches in the order given, an event offered twice (a redelivery
        beside its original) taken once. Raises Refused if a handler fails."""
        mine: dict[str, list[Event]] = {}
        seen: set[tuple[str, object]] = set()
        for handler, batch in batches:
            events = mine.setdefault(handler.consumer, [])
            for _, event in batch:
                if (handler.consumer, event.id) not in seen and offered(handler, event):
                    seen.add((handler.consumer, event.id))
                    events.append(event)
        return await self._apply_all({c: e for c, e in mine.items() if e}, tx)

    async def _apply_all(self, mine: dict[str, list[Event]], tx: Transaction, *,
                         record: bool = True, inbox: bool = True) -> list[tuple[str, list[Event]]]:
        """``record=False``: ``tx`` also marks the events delivered (the relay's claim), so the
        inbox is only read, for handling recorded by another path (see the module docstring), and
        not even that with ``inbox=False``."""
        order = [(h, mine[c]) for c, h in self.consumers.items() if c in mine]  # in the usual order
        if not order:
            return []
        fresh: set[tuple[str, UUID]] = set()
        first_time = True  # as usual: then no pair need be looked up
        if record or inbox:
            wanted = [(h.consumer, e.id) for h, events in order for e in events]
            if record:
                fresh = await tx.fresh_deliveries(wanted)
            else:
                before = await tx.handled_before(wanted)
                fresh = set(wanted).difference(before) if before else set(wanted)
            first_time = len(fresh) == len(wanted)
        done: list[tuple[str, list[Event]]] = []
        for handler, events in order:
            new = events if first_time else [e for e in events if (handler.consumer, e.id) in fresh]
            if not new:
                continue
            try:
                await _apply(handler, new, tx)
            except Exception as exc:
                log.info("consumer %s failed within a batch of %d events: delivering consumer by "
                         "consumer", handler.consumer, sum(len(events) for _, events in order))
                raise Refused from exc
            done.append((handler.consumer, new))
        return done

    async def by_consumer(self, batch: Batch) -> None:
        """Each consumer its events of the batch in a transaction of its own; if that fails, one
        event per transaction, so only the failing event is retried and parked."""
        for handler in self.consumers.values():
            mine = [(seq, e) for seq, e in batch if offered(handler, e)]
            if len(mine) > 1 and await self._together(mine, handler):
                continue
            for seq, event in mine:
                await self.one(seq, event, handler, attempts=0, retry=False)

    async def of_consumer(self, handler: EventHandler, batch: Batch) -> None:
        """``handler``'s events of ``batch`` (from the broker): together, else one by one with
        failures recorded. Raises only if the database is away: then nothing was recorded and
        the broker offers the batch again."""
        mine, seen = [], set()  # a redelivery beside its original: the same event twice in one batch
        for seq, e in batch:
            if e.id not in seen and offered(handler, e):
                seen.add(e.id)
                mine.append((seq, e))
        if not mine:  # nothing for it: acknowledged without a transaction
            return
        if len(mine) > 1:
            if await self._together(mine, handler):
                return
            await self.storage.ping()  # the database away is not the handler's failure: redeliver
        for seq, event in mine:
            await self.one(seq, event, handler, attempts=0, retry=False)

    async def retry_due(self, limit: int) -> None:
        now = utcnow()
        for failure, event in await self.storage.outbox.due_failures(now, limit):
            handler = self.consumers.get(failure.consumer)
            if handler is None or not offered(handler, event):
                await self.storage.outbox.record_failure(
                    failure.seq, failure.consumer, "no handler of this consumer takes this event now",
                    now, park=True)
                continue
            await self.one(failure.seq, event, handler, failure.attempts, retry=True)

    async def _together(self, events: Batch, handler: EventHandler) -> bool:
        try:
            async with self.storage.transaction() as tx:
                fresh = await tx.first_deliveries(handler.consumer, [e.id for _, e in events])
                new = [event for _, event in events if event.id in fresh]
                if new:
                    await _apply(handler, new, tx)
        except Exception:
            log.info("consumer %s failed within a batch of %d: delivering one by one",
                     handler.consumer, len(events))
            return False
        delivery_metrics.handled(handler.consumer, new)
        return True

    async def one(self, seq: int, event: Event, handler: EventHandler, attempts: int, retry: bool) -> None:
        """One event in a transaction of its own; a handler's failure is recorded (retried later,
        parked in the end), but a database that is away or lost the commit is raised: the event is
        then offered again in order, not retried after later events of its patient."""
        new = False
        try:
            async with self.storage.transaction() as tx:
                if new := await tx.first_delivery(handler.consumer, event.id):
                    await handler.handle(event, tx)
        except (Unavailable, OutcomeUnknown):
            raise
        except Exception as exc:
            delivery_metrics.failed(handler.consumer)
            tried = attempts + 1
            park = tried >= self.max_attempts
            delay = min(self.backoff_seconds * 2 ** min(tried - 1, 32), MAX_BACKOFF_SECONDS)
            log.warning("consumer %s failed on %s (%s, attempt %d)%s", handler.consumer,
                        event.event_type(), event.id, tried, ", parked" if park else "")
            await self.storage.outbox.record_failure(
                seq, handler.consumer, f"{type(exc).__name__}: {exc}",
                utcnow() + timedelta(seconds=delay), park)
            return
        if new:
            delivery_metrics.handled(handler.consumer, [event])
        if retry:
            await self.storage.outbox.clear_failure(seq, handler.consumer)
