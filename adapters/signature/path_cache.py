"""Validated certificate paths, remembered per signer certificate so that a doctor signing a
hundred prescriptions pays for path building and CRL checks once, not a hundred times.

Only the *path* is remembered. Every call still checks the signature itself (the signed
attributes, the content digest, the algorithms) with :func:`signature_holds`; whatever that fast
check does not accept goes through the full validation, which gives the verdict and its reason.

An entry is keyed by the certificate's SHA-256 and the trust store's fingerprint, and covers the
signing times at which the validation it records holds for that store: within every path
certificate's validity, before any revocation the store's CRLs list for one of them, and not past
the earliest ``nextUpdate`` of the CRLs of the path's issuers. It is dropped at that
``nextUpdate`` (or the certificate's ``notAfter``) by the clock, and every entry is dropped as
soon as the trust store changes (a republished CRL, another anchor).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import cms, x509  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import hashes
from pyhanko.sign.validation.generic_cms import validate_sig_integrity
from pyhanko.sign.validation.utils import CMSAlgorithmUsagePolicy
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import DisallowWeakAlgorithmsPolicy
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from adapters.signature.trust import TrustStore
from core.clock import utcnow

DEFAULT_SIZE = 10_000
# the algorithm policy a pyHanko ValidationContext applies by default, as in the full validation
_ALGORITHMS = CMSAlgorithmUsagePolicy.lift_policy(DisallowWeakAlgorithmsPolicy())  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class _Entry:
    valid_from: dt.datetime  # the signing times this validation covers: [valid_from, valid_until)
    valid_until: dt.datetime
    expires: dt.datetime  # by the clock: the earliest CRL nextUpdate, or the certificate's notAfter


class PathCache:
    """A bounded (least recently used) map of validated paths; safe across the worker threads
    the verification runs on. ``hits``/``misses`` count lookups, for tests and the bench."""

    def __init__(self, size: int = DEFAULT_SIZE, *, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.size = size
        self.clock = clock
        self.hits = self.misses = 0
        self._lock = threading.Lock()
        self._trust: bytes | None = None
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _follow(self, trust: TrustStore) -> None:
        if trust.fingerprint != self._trust:  # a new store: nothing validated against the old one holds
            self._entries.clear()
            self._trust = trust.fingerprint

    def covers(self, trust: TrustStore, cert: x509.Certificate, moment: dt.datetime) -> bool:
        """Whether a path of ``cert`` validated against ``trust`` holds at the signing time ``moment``."""
        key = hashlib.sha256(cert.dump()).digest()
        now = self.clock()
        with self._lock:
            self._follow(trust)
            entry = self._entries.get(key)
            if entry is not None and now >= entry.expires:
                del self._entries[key]
                entry = None
            hit = entry is not None and entry.valid_from <= moment < entry.valid_until
            if hit:
                self._entries.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return hit

    def remember(self, trust: TrustStore, cert: x509.Certificate, path: ValidationPath) -> None:
        """Record a path that just validated; a path whose CRLs are unknown is not recorded."""
        entry = _window(trust, cert, path)
        if entry is None or self.size <= 0:
            return
        key = hashlib.sha256(cert.dump()).digest()
        with self._lock:
            if self._trust is not None and trust.fingerprint != self._trust:
                return  # validated against a store that has since been replaced
            self._trust = trust.fingerprint
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def _window(trust: TrustStore, cert: x509.Certificate, path: ValidationPath) -> _Entry | None:
    certs = list(path.iter_certs(include_root=True))
    issuers = {c.issuer.hashable for c in path.iter_certs(include_root=False)}
    crls = [c for c in trust.crls if c["tbs_cert_list"]["issuer"].hashable in issuers]
    updates = [c["tbs_cert_list"]["next_update"].native for c in crls]
    if not crls or None in updates:
        return None
    serials = {c.serial_number for c in path.iter_certs(include_root=False)}
    revoked = [r["revocation_date"].native for c in crls for r in c["tbs_cert_list"]["revoked_certificates"]
               if r["user_certificate"].native in serials]  # by serial alone: only ever too cautious
    return _Entry(valid_from=max(c.not_valid_before for c in certs),
                  valid_until=min([c.not_valid_after for c in certs] + revoked + updates),
                  expires=min([*updates, cert.not_valid_after]))


def signature_holds(signer_info: cms.SignerInfo, cert: x509.Certificate, content_type: str,
                    content: bytes, moment: dt.datetime) -> bool:
    """The checks of a CMS signature that do not depend on the path: allowed algorithms, the
    content digest against the signed attributes, the signature over them and the signing
    certificate attribute. False (never raises) for anything the full validation should judge."""
    try:
        algorithm = signer_info["signature_algorithm"]
        digest_algorithm = signer_info["digest_algorithm"]
        policy = _ALGORITHMS
        if not (policy.signature_algorithm_allowed(algorithm, moment=moment, public_key=cert.public_key)
                and policy.digest_algorithm_allowed(digest_algorithm, moment=moment)
                and policy.digest_combination_allowed(signature_algo=algorithm,
                                                      message_digest_algo=digest_algorithm, moment=None)):
            return False
        digest = hashes.Hash(get_pyca_cryptography_hash(digest_algorithm["algorithm"].native))
        digest.update(content)
        intact, valid = validate_sig_integrity(signer_info, cert, expected_content_type=content_type,
                                               actual_digest=digest.finalize())
        return bool(intact and valid)
    except Exception:  # untrusted input: let the full validation say what is wrong
        return False
