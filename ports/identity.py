"""Identity: who is calling. The local adapter checks passwords and EDS challenges and issues
tokens; a national SSO adapter can take its place by configuration.

Administration methods take the caller's open :class:`~ports.storage.Transaction` (``tx``) so the
change and its audit entry commit together; without one they open their own.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Protocol
from uuid import UUID

import msgspec

from core.errors import ShifoError
from core.principals import Principal
from ports.signature import Signature
from ports.storage import Transaction


class Session(msgspec.Struct, frozen=True):
    access_token: str
    token_type: str
    expires_in: int


class Challenge(msgspec.Struct, frozen=True):
    """One-time text to sign with the EDS key; valid ``expires_in`` seconds, for one sign-in."""

    challenge_id: UUID
    challenge: str
    expires_in: int


class Qualification(msgspec.Struct, frozen=True, kw_only=True):
    """What justifies a clinical role: the diploma or licence, and for ``pharmacist`` the
    pharmaceutical education (level and institution)."""

    number: str
    issuer: str
    issued: date
    education: str | None = None


class Account(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    login: str
    kind: str
    full_name: str
    pinfl: str | None
    status: str
    created_at: datetime


class GrantRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    account: UUID
    facility: str
    role: str
    qualification: Qualification | None
    granted_at: datetime
    revoked_at: datetime | None = None


class SessionInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    account: UUID
    audience: str
    client: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


class SessionFlag(msgspec.Struct, frozen=True, kw_only=True):
    """Possible credential sharing: one account signed in from two client addresses at once."""

    id: UUID
    account: UUID
    login: str
    session: UUID
    client: str
    other_session: UUID
    other_client: str
    created_at: datetime


class Throttled(ShifoError):
    """Too many failed sign-ins: wait ``retry_after`` seconds (HTTP 429 with Retry-After)."""

    status: ClassVar[int] = 429
    title: ClassVar[str] = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Locked(Throttled):
    """Sign-in locked for a while after repeated failures (HTTP 423 with Retry-After)."""

    status: ClassVar[int] = 423
    title: ClassVar[str] = "Locked"


class Identity(Protocol):
    async def login(self, login: str, password: str, client: str) -> Session:
        """Check the credentials; raise ``core.errors.Unauthenticated`` without saying which part was
        wrong, :class:`Throttled` or :class:`Locked` after repeated failures (for unknown logins too)."""

    async def challenge(self, login: str) -> Challenge:
        """Issue a one-time EDS sign-in challenge (answered alike whether the login exists or not)."""

    async def login_signed(self, challenge_id: UUID, signature: bytes, client: str,
                           verifier: Signature) -> Session:
        """Sign in with the challenge signed by the account's own EDS key: the signature must verify
        and the signer's PINFL must equal the account's; the challenge is spent either way."""

    async def authenticate(self, token: str, audience: str, client: str | None = None) -> Principal | None:
        """The principal behind a bearer token, or None if it is invalid, expired, revoked, for
        another audience, or its account is no longer active. Grants are read fresh. ``client``, the
        address presenting the token: one other than the session's own is flagged (once per pair)."""

    async def logout(self, token: str) -> None: ...

    # --- administration (operators) ----------------------------------------------------------

    async def create_account(self, *, login: str, password: str | None, kind: str, full_name: str,
                             pinfl: str | None = None, tx: Transaction | None = None) -> UUID: ...

    async def set_status(self, account: UUID, status: str, *, tx: Transaction | None = None) -> Account:
        """Move an account between active / suspended / deactivated (deactivation is final)."""

    async def grant(self, account: UUID, facility: str, role: str, *, qualification_number: str,
                    qualification_issuer: str, qualification_date: date,
                    education: str | None = None, tx: Transaction | None = None) -> UUID:
        """Grant ``role`` at ``facility``; a clinical role without its qualification is refused."""

    async def revoke(self, grant_id: UUID, *, tx: Transaction | None = None) -> GrantRecord: ...

    async def account(self, account: UUID, *, tx: Transaction | None = None) -> Account: ...

    async def accounts(self, *, tx: Transaction | None = None) -> list[Account]: ...

    async def grants(self, account: UUID, *, tx: Transaction | None = None) -> list[GrantRecord]: ...

    async def sessions(self, account: UUID, *, active_only: bool = True,
                       tx: Transaction | None = None) -> list[SessionInfo]: ...

    async def flags(self, *, tx: Transaction | None = None) -> list[SessionFlag]:
        """Concurrent sessions from different client addresses, newest first."""
