"""The event pipeline of one process: the outbox relay and, on a durable adapter, the module
consumers, built from the settings and started and stopped together.

Which parts run is the deployment's choice (``SHIFO_RUN_RELAY``, ``SHIFO_RUN_CONSUMERS``; the
commands ``shifo relay`` and ``shifo consume`` run one each). With the in-process adapter there
are no separate consumers: the relay delivers.
"""

from __future__ import annotations

from core.errors import ConfigurationError
from host.consumers import Consumers
from host.pluginapi import EventHandler
from host.relay import Relay
from host.settings import Settings
from ports.messaging import Messaging
from ports.storage import Storage

GROUPINGS = ("shared", "consumer")  # SHIFO_CONSUMER_GROUPS (host.consumers)


def check_grouping(settings: Settings) -> None:
    """Refuse a grouping the consumers do not know (at plan time: before anything connects)."""
    if settings.consumer_groups not in GROUPINGS:
        raise ConfigurationError(f"SHIFO_CONSUMER_GROUPS must be one of {', '.join(GROUPINGS)}, "
                                 f"not {settings.consumer_groups!r}")


class Pipeline:
    def __init__(self, storage: Storage, messaging: Messaging, handlers: list[EventHandler],
                 settings: Settings) -> None:
        s = settings
        self.messaging = messaging
        self.relay = Relay(storage, handlers, messaging, batch=s.relay_batch,
                           poll_seconds=s.relay_poll_seconds, max_attempts=s.relay_max_attempts,
                           backoff_seconds=s.relay_backoff_seconds, gather_seconds=s.relay_gather_seconds,
                           gather_max_seconds=s.relay_gather_max_seconds)
        self.consumers: Consumers | None = None
        check_grouping(s)
        if messaging.durable:
            self.consumers = Consumers(storage, messaging, handlers, batch=s.consumer_batch,
                                       max_attempts=s.relay_max_attempts,
                                       backoff_seconds=s.relay_backoff_seconds,
                                       retry_seconds=s.relay_poll_seconds,
                                       shared=s.consumer_groups == "shared")
        self.running: set[str] = set()

    async def start(self, *, relay: bool = True, consumers: bool = True) -> None:
        """Start the relay and/or the consumers (the latter only exist on a durable adapter)."""
        if consumers and self.consumers is not None and "consumers" not in self.running:
            await self.consumers.start()
            self.running.add("consumers")
        if relay and "relay" not in self.running:
            await self.relay.start()
            self.running.add("relay")

    async def stop(self) -> None:
        """The relay first (nothing more is published), then the consumers finish their batches."""
        await self.relay.stop()
        if self.consumers is not None:
            await self.consumers.stop()
        self.running.clear()

    async def abort(self) -> None:
        """As if the process died: the relay and the batches being handled are cancelled (their
        transactions roll back; the outbox and the broker offer them again)."""
        await self.relay.stop()
        if self.consumers is not None:
            await self.consumers.abort()
        self.running.clear()
