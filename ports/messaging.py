"""Messaging: committed events on their way to module consumers and live subscribers.

The relay reads the outbox (the durable record of every committed event) and hands events to the
messaging adapter. Two kinds of adapter exist:

* **durable** (``messaging.nats``): the broker keeps every published event until each consumer
  group acknowledged it. The relay only publishes (:meth:`Messaging.publish` returns once the
  broker stored the events, and a re-publish of an event id is dropped by the broker); module
  consumers take events with :meth:`Messaging.consume`, in any number of processes.
* **not durable** (``messaging.inprocess``, the embedded default): the outbox is the only log.
  The relay delivers to the module consumers itself, in the claim's transaction, and publishes
  afterwards to live subscribers only; :meth:`Messaging.consume` is not offered.

Live subscriptions (:meth:`Messaging.subscribe`) are best effort on both: a subscriber that may
have missed events is told so (``None`` in its stream) and resumes from the outbox.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any, Protocol

import msgspec

from ports.storage import StoredEvent

#: the port as a module reaches it: ``ctx.services[SERVICE]`` (the host offers it to every module)
SERVICE = "messaging"

#: A consumer group's handler: the events of one partition, in commit order. Returning means
#: "applied and committed": only then are they acknowledged. Raising means "not applied": the
#: adapter offers the same events again after a backoff, before any later event of the partition.
Handle = Callable[[list[StoredEvent]], Awaitable[None]]


class GroupStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One consumer group, summed over partitions."""

    group: str
    pending: int  # published, not yet delivered to the group
    ack_pending: int  # delivered, not yet acknowledged
    redelivered: int  # delivered more than once and not yet acknowledged


class MessagingStatus(msgspec.Struct, frozen=True, kw_only=True):
    adapter: str
    durable: bool
    stream: dict[str, Any] = msgspec.field(default_factory=dict)  # messages, bytes, first/last seq ...
    groups: list[GroupStatus] = msgspec.field(default_factory=list)


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[StoredEvent | None]:
        """Events as they are published; ``None`` when some may have been missed since the last
        one (a full queue, a broker reconnect): re-read the outbox, then go on."""

    async def close(self) -> None: ...


class Consumption(Protocol):
    async def close(self) -> None:
        """Stop taking events; a batch being handled finishes and is acknowledged first."""


class Messaging(Protocol):
    #: the adapter's name (``inprocess``, ``nats``) and whether it is durable (module docstring)
    name: str
    durable: bool

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        """Publish ``events`` (in commit order). Durable adapters return once the broker stored
        all of them and raise :class:`core.errors.Unavailable` if it could not."""

    async def consume(self, group: str, event_types: Collection[str], handle: Handle, *,
                      batch: int = 100) -> Consumption:
        """Durable adapters: deliver ``group``'s events of ``event_types`` to ``handle``, in
        batches of one partition, in publish order; one batch of a partition at a time across
        every process consuming ``group``. An event is acknowledged only after ``handle``
        returned, so a process that dies mid-batch leaves it to be delivered again."""

    async def subscribe(self, event_types: Collection[str] | None = None) -> Subscription:
        """Events published from now on, filtered by type when ``event_types`` is given."""

    async def status(self) -> MessagingStatus:
        """What ``shifo status`` and ``/metrics`` show: stream state and each group's lag."""

    async def ping(self) -> None:
        """Raise if the broker cannot be reached."""

    async def close(self) -> None: ...
