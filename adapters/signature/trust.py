"""Trust anchors, intermediate certificates and revocation lists, read from one directory.

Layout: certificates in ``*.pem``/``*.crt``/``*.cer`` (PEM, several per file allowed, or DER) and
CRLs in ``*.crl`` (PEM or DER). Self-signed CA certificates are the trust anchors; the others help
build paths but are trusted only through an anchor. The operator replaces CRLs as they are
republished; :class:`TrustDirectory` notices changed files and reloads without a restart.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from asn1crypto import crl, pem, x509  # type: ignore[import-untyped]

from core.errors import ConfigurationError

CERT_SUFFIXES = (".pem", ".crt", ".cer")
log = logging.getLogger(__name__)


def _blocks(data: bytes) -> list[bytes]:
    if pem.detect(data):
        return [der for _, _, der in pem.unarmor(data, multiple=True)]
    return [data]


@dataclass(frozen=True)
class TrustStore:
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[crl.CertificateList, ...] = ()

    @classmethod
    def from_bytes(cls, certificates: list[bytes], crls: list[bytes]) -> TrustStore:
        """Build from PEM or DER blobs; refuses a store without a single self-signed anchor."""
        certs = [x509.Certificate.load(der) for blob in certificates for der in _blocks(blob)]
        anchor = [c.self_signed != "no" and c.ca for c in certs]
        if not any(anchor):
            raise ConfigurationError("the signature trust store holds no self-signed CA certificate")
        return cls(roots=tuple(c for c, a in zip(certs, anchor, strict=True) if a),
                   intermediates=tuple(c for c, a in zip(certs, anchor, strict=True) if not a),
                   crls=tuple(crl.CertificateList.load(der) for blob in crls for der in _blocks(blob)))

    def export(self) -> dict[str, bytes]:
        """The store as files a :class:`TrustDirectory` reads back: ``ca-N.pem``, ``crl-N.crl``."""
        certs = {f"ca-{i}.pem": pem.armor("CERTIFICATE", c.dump())
                 for i, c in enumerate((*self.roots, *self.intermediates), 1)}
        return certs | {f"crl-{i}.crl": pem.armor("X509 CRL", c.dump()) for i, c in enumerate(self.crls, 1)}

    @cached_property
    def fingerprint(self) -> bytes:
        """Names exactly this set of anchors, certificates and CRLs: what was validated against
        one store says nothing about another (see :mod:`adapters.signature.path_cache`)."""
        digest = hashlib.sha256()
        for group in (self.roots, self.intermediates, self.crls):
            for item in group:
                der = item.dump()
                digest.update(len(der).to_bytes(8, "big") + der)
            digest.update(b"|")
        return digest.digest()


class TrustDirectory:
    """A :class:`TrustStore` kept in step with a directory (checked by file size and mtime)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._store: TrustStore | None = None
        self.current()  # fail at start-up, not at the first signature

    def _snapshot(self) -> tuple[tuple[str, int, int], ...]:
        try:
            entries = sorted(os.scandir(self.path), key=lambda e: e.name)
        except OSError as exc:
            raise ConfigurationError(f"cannot read the signature trust directory {self.path}: {exc}") from exc
        return tuple((e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries if e.is_file())

    def current(self) -> TrustStore:
        with self._lock:
            seen = self._snapshot()
            if self._store is None or seen != self._seen:
                files = [self.path / name for name, _, _ in seen]
                try:
                    self._store = TrustStore.from_bytes(
                        [f.read_bytes() for f in files if f.suffix.lower() in CERT_SUFFIXES],
                        [f.read_bytes() for f in files if f.suffix.lower() == ".crl"])
                except (ConfigurationError, OSError, ValueError) as exc:
                    if self._store is None:
                        raise ConfigurationError(f"{self.path}: unreadable trust store: {exc}") from exc
                    # a half-copied CRL must not stop verification: keep the last good store, retry
                    log.error("signature trust directory %s not reloaded: %s", self.path, exc)
                    return self._store
                self._seen = seen
            return self._store
