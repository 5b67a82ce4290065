"""``signature.example``: PKCS#7/CMS verified locally, with the trust anchors and revocation lists
given inline as PEM text in the settings rather than as a directory (handy in containers).

Settings (``SHIFO_EXTRA`` JSON): ``example_trust_pem`` (one or more CA certificates) and
``example_crl_pem`` (one or more CRLs). The heavy lifting is Shifo's shared CMS path; the adapter
decides where trust comes from and applies the port's signer expectation.
"""

from __future__ import annotations

from typing import Any

from adapters.signature.cms import inspect
from adapters.signature.trust import TrustStore
from core.errors import ConfigurationError
from ports.signature import Verification, expect_signer


class ExampleSignature:
    def __init__(self, trust: TrustStore) -> None:
        self.trust = trust

    async def verify(self, content: bytes, signature: bytes, *, detached: bool = True,
                     signer_pinfl: str | None = None) -> Verification:
        report = await inspect(content, signature, detached=detached, trust=self.trust)
        return expect_signer(report.verification, signer_pinfl)

    async def close(self) -> None:
        return None


def create(settings: Any) -> ExampleSignature:
    """The factory the entry point names: Shifo calls it with its settings."""
    extra = getattr(settings, "extra", {}) or {}
    anchors, crls = extra.get("example_trust_pem"), extra.get("example_crl_pem")
    if not anchors or not crls:
        raise ConfigurationError(
            "signature.example needs example_trust_pem and example_crl_pem in SHIFO_EXTRA")
    return ExampleSignature(TrustStore.from_bytes([anchors.encode()], [crls.encode()]))
