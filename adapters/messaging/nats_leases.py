"""messaging.nats: partition leases, so that one process at a time pulls a group's partition.

JetStream lets any number of clients pull from one consumer, which would break "events of one
patient in commit order". So each (group, partition) has a lease key in the KV bucket
``{prefix}-leases``: whoever created the key pulls the partition, and keeps it by updating the key
(compare-and-set on its revision) every third of the lease TTL. The bucket's TTL (max age) is the
lease TTL, twice the ack wait: when an owner dies its unacknowledged batch is due for redelivery
before the lease expires and anyone else may pull.

Sharing: each process also keeps a member key per group (refreshed every tick, so a killed
member drops out of the count after one TTL); a process holds at most
``ceil(PARTITIONS / members)`` partitions, takes free ones in random order and gives back any
above its share after the batch in hand. Members are counted per group, so processes that consume
different sets of groups do not skew each other.
"""

from __future__ import annotations

import time
from typing import Any

from nats.js.errors import BadRequestError, KeyNotFoundError, KeyWrongLastSequenceError

from core.partitions import PARTITIONS

from .nats_names import safe_name


class Leases:
    """The partitions of one group that this process (``member``) holds."""

    def __init__(self, kv: Any, group: str, member: str, ttl: float, *, js: Any, bucket: str) -> None:
        self.kv, self.js = kv, js
        self._stream = f"KV_{bucket}"
        self.group = safe_name(group)
        self.member = member
        self.ttl = ttl
        self.revisions: dict[int, int] = {}
        self._valid_until: dict[int, float] = {}

    def _key(self, partition: int) -> str:
        return f"p.{self.group}.{partition}"

    @property
    def _member_key(self) -> str:
        return f"m.{self.group}.{self.member}"

    def _member_subject(self, member: str) -> str:
        return f"$KV.{self._stream[3:]}.m.{self.group}.{member}"

    def valid(self, partition: int, for_seconds: float = 0.0) -> bool:
        """Still ours for sure, for ``for_seconds`` more: refreshed less than (most of) a TTL ago.
        A puller asks this before every fetch with the fetch's timeout, so a fetch ends before the
        key can expire: a process cut off from the broker stops receiving messages before another
        may take the partition (whose hand-over then sees them as unacknowledged)."""
        return time.monotonic() + for_seconds < self._valid_until.get(partition, 0.0)

    def _held(self, partition: int, revision: int) -> None:
        self.revisions[partition] = revision
        self._valid_until[partition] = time.monotonic() + self.ttl * 0.8

    def forget(self, partition: int) -> None:
        self.revisions.pop(partition, None)
        self._valid_until.pop(partition, None)

    async def share(self) -> int:
        """Announce this member and return how many partitions it may hold.

        Members are counted from the bucket stream's per-subject state (one request), not with
        ``kv.keys()``: that creates an ephemeral ordered consumer on every call, and in a cluster
        run the lease keepers' calls kept failing with a bad request after a member was killed."""
        await self.kv.put(self._member_key, b"1")
        info = await self.js.stream_info(self._stream, subjects_filter=self._member_subject(">"))
        members = len(info.state.subjects or {})
        return -(-PARTITIONS // max(1, members))  # ceil

    async def take(self, partition: int) -> bool:
        try:
            revision = await self.kv.create(self._key(partition), self.member.encode())
        except KeyWrongLastSequenceError:
            try:  # ours already? (a refresh that failed on a broker hiccup)
                entry = await self.kv.get(self._key(partition))
            except KeyNotFoundError:
                return False
            if entry.value != self.member.encode() or entry.revision is None:
                return False
            revision = entry.revision
        except BadRequestError:  # 10071 on a key re-created after its delete: next pass tries again
            return False
        self._held(partition, revision)
        return True

    async def refresh(self, partition: int) -> bool:
        """Keep the lease; False (and forgotten) when someone else has it or it expired."""
        try:
            revision = await self.kv.update(self._key(partition), self.member.encode(),
                                            last=self.revisions[partition])
        except (KeyWrongLastSequenceError, KeyNotFoundError, BadRequestError):
            self.forget(partition)  # expired (10071 "wrong last sequence" comes as a bad request)
            return False
        self._held(partition, revision)
        return True

    async def release(self, partition: int) -> None:
        """Give the partition back at once (a clean stop, a share too large)."""
        revision = self.revisions.get(partition)
        self.forget(partition)
        if revision is not None:
            try:
                await self.kv.delete(self._key(partition), last=revision)
            except (KeyWrongLastSequenceError, KeyNotFoundError, BadRequestError):
                pass  # expired or taken meanwhile (the server's 10071 comes as a bad request): not ours

    async def leave(self) -> None:
        """Gone from the count at once: a purge of the subject leaves no delete marker to count."""
        await self.js.purge_stream(self._stream, subject=self._member_subject(self.member))
