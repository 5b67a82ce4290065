"""The in-process adapter passes the messaging contract kit, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.messaging.inprocess import InProcessMessaging
from host.testing.messaging_kit import MessagingContract, MessagingKitSubject


class TestInProcessAdapter(MessagingContract):
    @pytest.fixture
    async def messaging_kit_subject(self, db_url: str) -> AsyncIterator[MessagingKitSubject]:
        yield MessagingKitSubject(database_url=db_url, make_messaging=InProcessMessaging, within=10.0)
