"""A small world for the access tests: facilities, one account per kind of principal, tokens.

Seeded through the identity adapter on a runtime of its own before the app starts (see
``tests.support``); the tokens are real sessions, issued as a sign-in through the API would.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import msgspec
from litestar import Litestar
from sqlalchemy import update

from adapters.identity.tables import accounts, sessions
from core.clock import utcnow
from core.pinfl import check_digit
from host.runtime import Runtime
from host.settings import Settings
from host.web.app import create_app
from ports.signature import Verification
from tests.support import PASSWORD, add_facility

CLIENT = "testclient"  # the address Litestar's test client reports


def pinfl(n: int) -> str:
    """A valid PINFL (a man born 15 May 1985), distinct per ``n``."""
    first13 = f"3150585{n:06d}"
    return first13 + str(check_digit(first13))


async def staff(rt: Runtime, login: str, grants: Iterable[tuple[str, str]] = (), *, kind: str = "staff",
                n: int = 0) -> UUID:
    """An account with properly qualified grants (pharmacists with their education)."""
    uid: UUID = await rt.identity.create_account(login=login, password=PASSWORD, kind=kind,
                                                 full_name=login.title(), pinfl=pinfl(n))
    for facility, role in grants:
        await rt.identity.grant(uid, facility, role, qualification_number=f"DIP-{login}",
                                qualification_issuer="Tashkent Medical Academy",
                                qualification_date=dt.date(2019, 6, 30),
                                education="higher pharmaceutical" if role == "pharmacist" else None)
    return uid


async def token(rt: Runtime, login: str, client: str = CLIENT) -> str:
    return (await rt.identity.login(login, PASSWORD, client)).access_token


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


async def expire_sessions(rt: Runtime, account: UUID) -> None:
    async with rt.storage.transaction() as tx:
        await tx.execute(update(sessions).where(sessions.c.account == account)
                         .values(expires_at=utcnow() - dt.timedelta(minutes=1)))


async def set_status_in_db(rt: Runtime, account: UUID, status: str) -> None:
    """Change the status behind the adapter's back: its sessions stay unrevoked, so only the
    per-request status check can refuse them."""
    async with rt.storage.transaction() as tx:
        await tx.execute(update(accounts).where(accounts.c.id == account).values(status=status))


async def facilities(rt: Runtime, spec: dict[str, Iterable[str]]) -> None:
    for facility, modules in spec.items():
        await add_facility(rt, facility, modules)


def app(settings: Settings, signature: Any = None) -> Litestar:
    built = create_app(settings)
    if signature is not None:
        built.state["signature"] = signature
    return built


def b64url(data: Any) -> str:
    raw = data if isinstance(data, bytes) else msgspec.json.encode(data)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class FakeSignature:
    """Signatures are ``b"signed-by:<pinfl>:" + content``; anything else is not valid."""

    async def verify(self, content: bytes, signature: bytes, **_: Any) -> Verification:
        prefix, _sep, rest = signature.partition(b":")
        who, _sep, signed = rest.partition(b":")
        if prefix != b"signed-by" or signed != content:
            return Verification(valid=False, reason="the signature does not match the content")
        return Verification(valid=True, signer_pinfl=who.decode(), signer_name="Test Signer")

    @staticmethod
    def sign(content: str, signer: str) -> str:
        return base64.b64encode(b"signed-by:" + signer.encode() + b":" + content.encode()).decode()


FAST_HASHING = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}  # argon2id still, cheaper


def settings(db_url: str, **identity: Any) -> Settings:
    """Test settings: no relay, cheap password hashing, ``identity`` limits as given."""
    return Settings(database_url=db_url, run_relay=False,
                    extra={"identity": {"hashing": FAST_HASHING, **identity}})
