"""Checking a person's EDS signature over canonical bytes through the host's signature port.

The signer must be the caller: the PINFL in the certificate must equal the account's PINFL. The
signing time is the signer's own claim, so a new signature must also be fresh, else a revoked or
expired key could sign with a back-dated time. The verdict is returned for the archive.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

import msgspec

from core.errors import ValidationFailed
from ports.signature import Signature

SERVICE = "signature"
FRESH = timedelta(minutes=10)
_SIGNED = UUID("7d0c4a52-3f1e-5b8a-9c61-2e4f8a0b6d13")  # namespace of ids derived from signatures


def _fail(detail: str, field: str = "signature") -> ValidationFailed:
    return ValidationFailed(detail, errors=[{"field": field, "message": detail}])


def decode(text: str, field: str = "signature") -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(f"{field} is not base64", field) from None


async def verify(services: dict[str, Any], content: bytes, signature_b64: str, *, pinfl: str | None,
                 now: datetime, made: datetime | None = None) -> dict[str, Any]:
    """The verdict (as plain data) of a valid, fresh signature by ``pinfl``; 422 otherwise.
    ``made``: when the signature must have been made (default now); a paper prescription's is made
    when written, so its certificate is checked as it was then (the caller bounds how long ago)."""
    if not pinfl:
        raise _fail("your account has no PINFL on record, so no signature can be tied to you")
    port: Signature = services[SERVICE]
    verdict = await port.verify(content, decode(signature_b64), detached=True, signer_pinfl=pinfl)
    if not verdict.valid:
        raise _fail(f"the signature was refused: {verdict.reason or 'not valid'}")
    if verdict.signing_time is None or abs((made or now) - verdict.signing_time) > FRESH:
        raise _fail("the signing time is not within ten minutes of now: sign again" if made is None
                    else "the signature was not made when the prescription was written: its signing time "
                    "differs from written_at by more than ten minutes")
    plain: dict[str, Any] = msgspec.to_builtins(verdict)
    plain["verified_at"] = now.isoformat()
    return plain


def verifier(services: dict[str, Any], signature_b64: str, *, pinfl: str | None, now: datetime
             ) -> Callable[[bytes], Awaitable[dict[str, Any]]]:
    """:func:`verify` for a unit of work that learns the signed bytes inside it and may be re-run
    (``ctx.transact``): the verdict over given bytes is computed once per request."""
    verdicts: dict[bytes, dict[str, Any]] = {}

    async def check(content: bytes) -> dict[str, Any]:
        if content not in verdicts:
            verdicts[content] = await verify(services, content, signature_b64, pinfl=pinfl, now=now)
        return verdicts[content]
    return check


def signed_once_id(content: bytes, verdict: dict[str, Any]) -> UUID:
    """An id that every replay of one signature shares: the signed bytes, the signer's certificate
    and the signing time (all covered by the signature), for a single-use key where the signed
    content names no id of its own. Two signatures of identical content by one key within the
    signing time's resolution share it too: the second is refused as a replay."""
    basis = b"|".join([hashlib.sha256(content).digest(), *(str(verdict.get(k)).encode() for k in (
        "signer_pinfl", "certificate_serial", "signing_time"))])
    return uuid5(_SIGNED, hashlib.sha256(basis).hexdigest())
