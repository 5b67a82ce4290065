"""Entry point ``signature.x509``: PKCS#7/CMS verified locally against a trust directory.

Settings: ``signature_trust_dir`` (CA certificates and CRLs, see :mod:`adapters.signature.trust`),
``signature_clock_skew_seconds`` (how far in the future a signing time may lie, default 300) and
``signature_path_cache`` (remember validated certificate paths, default on; see
:mod:`adapters.signature.path_cache`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from adapters.signature import setting
from adapters.signature.cms import inspect
from adapters.signature.path_cache import PathCache
from adapters.signature.trust import TrustDirectory, TrustStore
from core.errors import ConfigurationError
from ports.signature import Verification, expect_signer


class X509Signature:
    def __init__(self, trust: TrustDirectory | TrustStore, *,
                 clock_skew: dt.timedelta = dt.timedelta(minutes=5), paths: PathCache | None = None) -> None:
        self.trust = trust
        self.clock_skew = clock_skew
        self.paths = paths

    async def verify(self, content: bytes, signature: bytes, *, detached: bool = True,
                     signer_pinfl: str | None = None) -> Verification:
        store = self.trust.current() if isinstance(self.trust, TrustDirectory) else self.trust
        report = await inspect(content, signature, detached=detached, trust=store, skew=self.clock_skew,
                               paths=self.paths)
        return expect_signer(report.verification, signer_pinfl)

    def anchors(self) -> dict[str, bytes]:
        """The anchors and CRLs in use now (:class:`ports.signature.TrustAnchors`)."""
        store = self.trust.current() if isinstance(self.trust, TrustDirectory) else self.trust
        return store.export()

    async def close(self) -> None:
        return None


def create(settings: Any) -> X509Signature:
    trust_dir = setting(settings, "signature_trust_dir", None)
    if not trust_dir:
        raise ConfigurationError("the x509 signature adapter needs signature_trust_dir: a directory with the "
                                 "trusted CA certificates (*.pem) and their revocation lists (*.crl)")
    skew = float(setting(settings, "signature_clock_skew_seconds", 300))
    return X509Signature(TrustDirectory(Path(trust_dir)), clock_skew=dt.timedelta(seconds=skew),
                         paths=path_cache(settings))


def path_cache(settings: Any) -> PathCache | None:
    """The cache of validated paths, unless ``signature_path_cache`` turns it off."""
    return PathCache() if setting(settings, "signature_path_cache", True) else None
