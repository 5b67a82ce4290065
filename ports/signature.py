"""Electronic digital signatures (EDS). Integrators add adapters for local providers."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import msgspec


class Verification(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool
    signer_pinfl: str | None = None
    signer_name: str | None = None
    certificate_serial: str | None = None
    signing_time: datetime | None = None
    reason: str | None = None  # why it is not valid, in words a user can act on


class Signature(Protocol):
    async def verify(self, content: bytes, signature: bytes) -> Verification:
        """Verify ``signature`` over ``content`` (detached), or an attached signature when
        ``content`` is empty. Never raises for a bad signature: returns ``valid=False``."""
