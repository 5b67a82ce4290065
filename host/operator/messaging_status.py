"""The messaging series of ``/metrics`` and ``shifo status``: the adapters in use, the stream, and
each consumer group's lag and redeliveries.

The broker is asked at most every ``STATUS_SECONDS`` (its status is a round trip per partition
consumer), so scrapes stay fast; while it does not answer only the adapters and
``shifo_messaging_up 0`` are served.
"""

from __future__ import annotations

import asyncio
import logging
import time

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from host.runtime import Runtime
from ports.messaging import MessagingStatus

log = logging.getLogger("shifo.web")

STATUS_SECONDS = 5.0
_statuses: dict[int, tuple[float, MessagingStatus]] = {}  # by messaging adapter: (asked at, answer)


async def read(runtime: Runtime, *, fresh: bool = False) -> MessagingStatus:
    """The broker's answer, remembered ``STATUS_SECONDS`` (``fresh``: ask now)."""
    key, now = id(runtime.messaging), time.monotonic()
    known = _statuses.get(key)
    if known is not None and not fresh and now - known[0] < STATUS_SECONDS:
        return known[1]
    async with asyncio.timeout(runtime.settings.pool_timeout_seconds + 1):
        status = await runtime.messaging.status()
    _statuses.clear()  # one runtime per process: never grows
    _statuses[key] = (now, status)
    return status


def group_module(group: str) -> str:
    """The module of a consumer group (consumers are named ``<module>.<what>``); ``all`` for the
    group every module's handlers share (``SHIFO_CONSUMER_GROUPS=shared``)."""
    return group.split(".", 1)[0] if "." in group else "all"


def families_of(runtime: Runtime, status: MessagingStatus | None) -> list[Metric]:
    """The adapters in use, and (if the broker answered) the stream and each group's lag."""
    s = runtime.settings
    info = InfoMetricFamily("shifo_adapters", "The adapters behind the ports", value={
        "storage": s.storage_adapter, "messaging": s.messaging_adapter, "identity": s.identity_adapter,
        "signature": s.signature_adapter,
        "messaging_durable": "true" if getattr(runtime.messaging, "durable", False) else "false"})
    up = GaugeMetricFamily("shifo_messaging_up", "1 if the messaging adapter answered its status, else 0",
                           value=int(status is not None))
    out: list[Metric] = [info, up]
    if status is None:
        return out
    messages = status.stream.get("messages")
    if isinstance(messages, int | float):
        out.append(GaugeMetricFamily("shifo_messaging_stream_messages", "Events held by the stream",
                                     value=messages))
    labels = ["group", "module"]
    pending = GaugeMetricFamily("shifo_messaging_group_pending", "Events published, not yet "
                                "delivered to the consumer group", labels=labels)
    unacked = GaugeMetricFamily("shifo_messaging_group_ack_pending", "Events delivered to the group, "
                                "not yet acknowledged", labels=labels)
    again = GaugeMetricFamily("shifo_messaging_group_redelivered", "Events delivered to the group "
                              "more than once and not yet acknowledged", labels=labels)
    for g in status.groups:
        key = [g.group, group_module(g.group)]
        pending.add_metric(key, g.pending)
        unacked.add_metric(key, g.ack_pending)
        again.add_metric(key, g.redelivered)
    return [*out, pending, unacked, again]


async def families(runtime: Runtime) -> list[Metric]:
    """The series for ``/metrics``; the broker away leaves only the adapters and ``up 0``."""
    try:
        status: MessagingStatus | None = await read(runtime)
    except Exception as exc:  # the broker away: its series say so, the rest is served
        log.debug("messaging status unavailable: %s", type(exc).__name__)
        status = None
    return families_of(runtime, status)
