"""Electronic digital signatures (EDS). Integrators add adapters for local providers.

An adapter verifies one PKCS#7/CMS signature (DER bytes) over content bytes and says who signed
it. The signer is named by the PINFL in their certificate (OID 1.2.860.3.16.1.2 in the national
certificates). Adapters are registered under the ``shifo.adapters`` entry-point group as
``signature.<name>`` and proven with the contract kit in :mod:`ports.kits.signature`.

Time: the certificate must have been valid (not expired, not revoked, issued by a trusted CA) at
the signing time, which is the signer's own claim unless a timestamp token says otherwise. A
caller receiving a *new* signature should also check that ``signing_time`` is close to its own
clock, so an expired or revoked key cannot sign with a back-dated claim.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

import msgspec

from core.errors import ShifoError

PINFL_OID = "1.2.860.3.16.1.2"  # the signer's PINFL in the subject of national certificates


class Verification(msgspec.Struct, frozen=True, kw_only=True):
    valid: bool
    signer_pinfl: str | None = None
    signer_name: str | None = None
    certificate_serial: str | None = None  # lowercase hex, no separators
    signing_time: datetime | None = None  # timezone-aware
    reason: str | None = None  # why it is not valid, in words a user can act on


class SignatureUnavailable(ShifoError):
    """The verifier could not give an answer (a remote service is down or answered nonsense).
    Not a verdict on the signature: the caller may retry; nothing may be accepted meanwhile."""

    status: ClassVar[int] = 503
    title: ClassVar[str] = "Signature service unavailable"


class Signature(Protocol):
    async def verify(self, content: bytes, signature: bytes, *, detached: bool = True,
                     signer_pinfl: str | None = None) -> Verification:
        """Verify ``signature`` (PKCS#7/CMS, DER) over ``content``.

        ``detached=False``: the signature carries the content, which must equal ``content`` byte
        for byte. ``signer_pinfl``: when given, a signature by anybody else is not valid. Never
        raises for a bad, foreign or garbled signature (returns ``valid=False`` with a reason);
        raises :class:`SignatureUnavailable` only when no verdict could be reached."""
        ...

    async def close(self) -> None:
        """Release connections (the host calls it at shutdown)."""
        ...


@runtime_checkable
class DevSigner(Protocol):
    """Signing on the server, for the demo and tests only: real users sign on their own device
    with their own key, and the server only ever verifies."""

    async def sign(self, content: bytes, *, signer_pinfl: str, signer_name: str = "",
                   detached: bool = True) -> bytes:
        """A PKCS#7/CMS signature (DER) of ``content`` by the dev key of ``signer_pinfl``."""
        ...


@runtime_checkable
class TrustAnchors(Protocol):
    """A verifier working from local trust anchors that can hand them out, so that a pharmacy can
    sync them and verify signatures offline (``shifo erecipe export-anchors``)."""

    def anchors(self) -> dict[str, bytes]:
        """File name -> PEM: the CA certificates (``*.pem``) and CRLs (``*.crl``) in use now, in the
        layout of the x509 adapter's trust directory."""
        ...


def refused(reason: str, **known: Any) -> Verification:
    """A not-valid answer, keeping whatever is known about the signer (for the audit trail)."""
    return Verification(valid=False, reason=reason, **known)


def expect_signer(result: Verification, signer_pinfl: str | None) -> Verification:
    """Apply the ``signer_pinfl`` expectation of :meth:`Signature.verify` to a verdict."""
    if signer_pinfl is None or not result.valid or result.signer_pinfl == signer_pinfl:
        return result
    return msgspec.structs.replace(
        result, valid=False, reason="the document was signed by another person, not the expected signer")
