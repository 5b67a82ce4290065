"""messaging.nats: the names a deployment uses on the bus (stream, subjects, consumers, lease bucket).

Everything is derived from ``nats_prefix`` so that several deployments (or test runs) can share a
NATS account without seeing each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import ConfigurationError

#: the stream keeps events this long whatever their consumers did (limits retention): a group that
#: lags more than a week is rebuilt from the outbox, which stays the durable record
STREAM_MAX_AGE_SECONDS = 7 * 24 * 3600


def safe_name(text: str) -> str:
    """A token that is valid in subjects, stream, consumer and bucket names."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", text.strip())
    if not cleaned:
        raise ConfigurationError("nats_prefix must not be empty")
    return cleaned


@dataclass(frozen=True)
class Names:
    prefix: str

    @property
    def stream(self) -> str:
        return f"{self.prefix}-events"

    @property
    def subjects(self) -> str:
        return f"{self.prefix}.events.>"

    @property
    def leases(self) -> str:
        return f"{self.prefix}-leases"

    def subject(self, partition: int, event_type: str) -> str:
        return f"{self.prefix}.events.{partition}.{event_type}"

    @staticmethod
    def split(subject: str) -> tuple[int, str]:
        """(partition, event type) of an event subject; the type may contain dots."""
        _, _, partition, event_type = subject.split(".", 3)
        return int(partition), event_type

    def consumer(self, group: str, partition: int) -> str:
        return f"{self.prefix}_{safe_name(group)}_{partition}"
