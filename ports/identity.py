"""Identity: who is calling. The local adapter checks passwords and issues tokens; a national SSO
adapter can take its place by configuration."""

from __future__ import annotations

from typing import Protocol

import msgspec

from core.principals import Principal


class Session(msgspec.Struct, frozen=True):
    access_token: str
    token_type: str
    expires_in: int


class Identity(Protocol):
    async def login(self, login: str, password: str, client: str) -> Session:
        """Check the credentials; raise ``core.errors.Unauthenticated`` without saying which part was
        wrong."""

    async def authenticate(self, token: str, audience: str) -> Principal | None:
        """The principal behind a bearer token, or None if it is invalid, expired or revoked."""

    async def logout(self, token: str) -> None: ...
