"""Keeps a long-lived response (the patient stream) tied to the session that opened it.

A stream outlives the request that authenticated it, so it asks again: before each delivery and
every :data:`CHECK_SECONDS` while idle it re-authenticates the token through the identity port (a
logout, a suspension or a deactivation ends it), and it stops at the token's expiry time without
asking. The check is the same token lookup every request makes.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from core.clock import utcnow
from core.principals import Principal
from ports.identity import Identity

CHECK_SECONDS = 5.0


class SessionWatch:
    def __init__(self, identity: Identity, principal: Principal, token: str, client: str) -> None:
        self.identity, self.token, self.client = identity, token, client
        self.audience = "patient" if principal.kind == "patient" else "staff"
        self.expires_at: datetime | None = principal.session_expires_at
        self.next_check = asyncio.get_running_loop().time() + CHECK_SECONDS

    def seconds_left(self) -> float:
        """Until the token expires (inf if it never does)."""
        if self.expires_at is None:
            return float("inf")
        return (self.expires_at - utcnow()).total_seconds()

    def seconds_to_check(self) -> float:
        """How long the caller may sleep before the session must be looked at again."""
        return max(0.0, min(self.next_check - asyncio.get_running_loop().time(), self.seconds_left()))

    async def live(self, *, force: bool = False) -> bool:
        """False once the token expired or was revoked; asks the database when due (or ``force``)."""
        if self.seconds_left() <= 0:
            return False
        loop = asyncio.get_running_loop()
        if not force and loop.time() < self.next_check:
            return True
        principal = await self.identity.authenticate(self.token, self.audience, self.client)
        if principal is None:
            return False
        self.expires_at = principal.session_expires_at
        self.next_check = loop.time() + CHECK_SECONDS
        return True
