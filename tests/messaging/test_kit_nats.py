"""The NATS JetStream adapter passes the messaging contract kit (PostgreSQL, a real nats-server):
two consumer processes at once, a crash mid-batch, redelivery, parking, a restart."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.messaging.nats import create
from host.settings import Settings
from host.testing.messaging_kit import MessagingContract, MessagingKitSubject

pytestmark = [pytest.mark.nats, pytest.mark.postgres]


class TestNatsAdapter(MessagingContract):
    """With the default grouping: one broker group every handler shares."""

    grouping = "shared"

    @pytest.fixture
    async def messaging_kit_subject(self, pg_url: str, nats_server: Any) -> AsyncIterator[MessagingKitSubject]:
        settings = Settings(nats_url=nats_server.url, nats_prefix=f"kit{uuid.uuid4().hex[:10]}",
                            nats_ack_wait_seconds=1.0, nats_connect_timeout_seconds=1.0,
                            relay_backoff_seconds=0.05)
        yield MessagingKitSubject(database_url=pg_url, make_messaging=lambda: create(settings), within=15.0,
                                  consumer_groups=self.grouping)


class TestNatsAdapterGroupPerConsumer(TestNatsAdapter):
    """With ``SHIFO_CONSUMER_GROUPS=consumer``: a broker group per handler."""

    grouping = "consumer"
