"""Entry point ``signature.dev``: a local dev CA whose users sign on the server, so ``make run`` can
issue and dispense prescriptions with no external service. Never for production: the server
holding users' keys defeats the purpose of a personal signature.

Keys live under ``signature_dev_keys_dir`` (default ``var/dev-keys``, outside version control):
``ca.key``/``ca.pem``/``ca.crl`` and ``people/<pinfl>.key``/``.pem``, made on first use. Verifying
goes through the same CMS path as the x509 adapter, trusting only the dev CA and its CRL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.signature import setting
from adapters.signature.path_cache import PathCache
from adapters.signature.trust import TrustStore
from adapters.signature.x509 import X509Signature, path_cache
from core.pinfl import parse as parse_pinfl
from ports.kits.pki import DAY, Credential, make_ca, make_crl, make_person, sign_cms
from ports.signature import Verification


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _load(key_path: Path) -> Credential | None:
    cert_path = key_path.with_suffix(".pem")
    if not (key_path.exists() and cert_path.exists()):
        return None
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return Credential(key, x509.load_pem_x509_certificate(cert_path.read_bytes()))


def _save(key_path: Path, cred: Credential) -> Credential:
    _write(key_path, cred.key_pem, secret=True)
    _write(key_path.with_suffix(".pem"), cred.cert_pem)
    return cred


class DevSignature:
    def __init__(self, keys_dir: Path, *, paths: PathCache | None = None) -> None:
        self.dir = keys_dir
        self._paths = paths  # one cache across CRL republications: a new store empties it
        (keys_dir / "people").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        now = dt.datetime.now(dt.UTC)
        ca = _load(keys_dir / "ca.key")
        fresh = ca is None or ca.cert.not_valid_after_utc < now + 30 * DAY
        self.ca = _save(keys_dir / "ca.key", make_ca("Shifo Dev CA (not for production)", now=now)) \
            if fresh or ca is None else ca
        crl_path = keys_dir / "ca.crl"
        crl = None if fresh or not crl_path.exists() else x509.load_pem_x509_crl(crl_path.read_bytes())
        self._revoked = {r.serial_number: r.revocation_date_utc for r in crl or ()}
        if crl is None or crl.next_update_utc is None or crl.next_update_utc < now + 7 * DAY:
            self._publish_crl()
        self._verifier = X509Signature(self._store(), paths=self._paths)

    def _store(self) -> TrustStore:
        return TrustStore.from_bytes([self.ca.cert_pem], [(self.dir / "ca.crl").read_bytes()])

    def _publish_crl(self) -> None:
        crl = make_crl(self.ca, self._revoked, now=dt.datetime.now(dt.UTC), days=90)
        _write(self.dir / "ca.crl", crl.public_bytes(serialization.Encoding.PEM))

    def enroll(self, pinfl: str, name: str = "") -> Credential:
        """The dev key of ``pinfl``, made (and certified for two years) on first use."""
        parse_pinfl(pinfl)  # also keeps the file name to 14 digits
        path = self.dir / "people" / f"{pinfl}.key"
        with self._lock:
            cred = _load(path)
            now = dt.datetime.now(dt.UTC)
            if cred is None or not self._usable(cred, now):
                cred = _save(path, make_person(self.ca, pinfl, name or f"Dev user {pinfl}",
                                               not_before=now - DAY, not_after=now + 730 * DAY))
            return cred

    def _usable(self, cred: Credential, now: dt.datetime) -> bool:
        try:
            cred.cert.verify_directly_issued_by(self.ca.cert)  # not from a replaced dev CA
        except (ValueError, TypeError, InvalidSignature):
            return False
        return cred.cert.not_valid_after_utc > now + DAY and cred.cert.serial_number not in self._revoked

    def revoke(self, serial: int, *, since: dt.datetime | None = None) -> None:
        """List a dev certificate as revoked from now on, or ``since`` (to try what revocation looks like)."""
        with self._lock:
            self._revoked[serial] = since or dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            self._publish_crl()
            self._verifier = X509Signature(self._store(), paths=self._paths)

    def anchors(self) -> dict[str, bytes]:
        """The dev CA and its CRL (:class:`ports.signature.TrustAnchors`)."""
        return self._verifier.anchors()

    async def sign(self, content: bytes, *, signer_pinfl: str, signer_name: str = "",
                   detached: bool = True) -> bytes:
        cred = await asyncio.to_thread(self.enroll, signer_pinfl, signer_name)
        return sign_cms(cred, content, detached=detached)

    async def verify(self, content: bytes, signature: bytes, *, detached: bool = True,
                     signer_pinfl: str | None = None) -> Verification:
        return await self._verifier.verify(content, signature, detached=detached, signer_pinfl=signer_pinfl)

    async def close(self) -> None:
        return None


def create(settings: Any) -> DevSignature:
    return DevSignature(Path(setting(settings, "signature_dev_keys_dir", "var/dev-keys")),
                        paths=path_cache(settings))
