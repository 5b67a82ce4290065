"""messaging.nats: what a deployment keeps on the broker (the event stream, the lease bucket) and
what ``shifo status`` reads back from it.

Several processes start at once, so creating is idempotent: an existing stream is updated to the
settings, and an existing lease bucket is used as created (its TTL wins over ours).
"""

from __future__ import annotations

import logging
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, BadRequestError

from ports.messaging import GroupStatus

from .nats_names import STREAM_MAX_AGE_SECONDS, Names

log = logging.getLogger("shifo.messaging.nats")


async def ensure_stream(js: JetStreamContext, names: Names, settings: Any) -> None:
    config = StreamConfig(
        name=names.stream, subjects=[names.subjects], storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS, discard=DiscardPolicy.OLD, max_age=STREAM_MAX_AGE_SECONDS,
        num_replicas=settings.nats_replicas,
        duplicate_window=float(settings.nats_duplicate_window_seconds))
    try:
        await js.add_stream(config)
    except BadRequestError:  # exists with another configuration
        try:
            await js.update_stream(config)
        except APIError as exc:  # e.g. replicas that this cluster cannot change
            log.warning("stream %s kept as it is: %s", names.stream, exc.description)


async def leases_bucket(js: JetStreamContext, names: Names, ack_wait: float,
                        replicas: int) -> tuple[Any, float]:
    """The lease bucket and its TTL (twice the ack wait; see :mod:`.nats_leases`)."""
    try:
        kv = await js.create_key_value(bucket=names.leases, history=1, ttl=2 * ack_wait, replicas=replicas)
    except BadRequestError:  # created by a process with another ack wait
        kv = await js.key_value(names.leases)
    info = await js.stream_info(f"KV_{names.leases}")
    return kv, float(info.config.max_age or 2 * ack_wait)


async def stream_status(js: JetStreamContext, names: Names) -> tuple[dict[str, Any], list[GroupStatus]]:
    """The stream's state and each group's lag, summed over its partitions' consumers (found by
    the group named in their metadata, so groups of other processes are shown too)."""
    info = await js.stream_info(names.stream)
    consumers: list[Any] = []
    while page := await js.consumers_info(names.stream, offset=len(consumers)):
        consumers.extend(page)
    sums: dict[str, list[int]] = {}
    for c in consumers:
        group = (c.config.metadata or {}).get("shifo_group")
        if group is not None:
            row = sums.setdefault(group, [0, 0, 0])
            row[0] += c.num_pending or 0
            row[1] += c.num_ack_pending or 0
            row[2] += c.num_redelivered or 0
    state = info.state
    stream = {"name": names.stream, "messages": state.messages, "bytes": state.bytes,
              "first_seq": state.first_seq, "last_seq": state.last_seq, "consumers": state.consumer_count}
    return stream, [GroupStatus(group=g, pending=p, ack_pending=a, redelivered=r)
                    for g, (p, a, r) in sorted(sums.items())]
