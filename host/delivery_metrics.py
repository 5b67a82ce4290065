"""Per-consumer delivery series for ``/metrics``: failed attempts, and how long events take to reach
each consumer.

Counted by the process that ran the delivery (the relay with the in-process adapter, ``shifo
consume`` workers with a durable one), so a scrape of one process shows its own deliveries. The
latency runs from the event's ``occurred_at`` (stamped in the writer's transaction, just before
its commit) to the commit of the consumer's handling: what "the entry reaches the other modules
at once" costs, retries and backoff included.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from core.events import Event

REGISTRY = CollectorRegistry()
FAILURES = Counter("shifo_delivery_failures", "Delivery attempts whose handler raised (each is retried "
                   "with backoff, then parked)", ["consumer", "module"], registry=REGISTRY)
LATENCY = Histogram("shifo_delivery_latency_seconds", "From an event's commit to the commit of a "
                    "consumer's handling of it", ["consumer", "module"], registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600))
_series: dict[str, tuple[Any, Any]] = {}  # consumer -> (failures, latency): consumers are few


def _of(consumer: str) -> tuple[Any, Any]:
    found = _series.get(consumer)
    if found is None:
        module = consumer.split(".", 1)[0]  # consumers are named <module>.<what>
        found = _series[consumer] = (FAILURES.labels(consumer, module), LATENCY.labels(consumer, module))
    return found


def failed(consumer: str) -> None:
    """One attempt of ``consumer`` failed (its failure is recorded for a retry)."""
    _of(consumer)[0].inc()


def handled(consumer: str, events: Sequence[Event]) -> None:
    """``consumer``'s handling of ``events`` has committed."""
    latency, now = _of(consumer)[1], time.time()
    for event in events:
        latency.observe(max(0.0, now - event.occurred_at.timestamp()))


def handled_each(done: Iterable[tuple[str, Sequence[Event]]]) -> None:
    """Several consumers' handling committed together (the relay's claim)."""
    for consumer, events in done:
        handled(consumer, events)
