"""Certificates and CMS signatures made on the spot, for the contract kit and the dev signer.

Keys are EC P-256 (fast to make); every certificate names its holder's PINFL under the national
OID. Nothing here is fit for production trust: it exists so that tests run on real cryptography
without committing a single key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from ports.signature import PINFL_OID

PINFL = x509.ObjectIdentifier(PINFL_OID)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Credential:
    """A key and its certificate: a CA, or a person who signs."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=not ca, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                         encipher_only=False, decipher_only=False)


def make_ca(name: str, *, now: dt.datetime, years: int = 10) -> Credential:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - DAY).not_valid_after(now + years * 365 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Credential(key, cert)


def make_person(ca: Credential, pinfl: str, name: str, *, not_before: dt.datetime,
                not_after: dt.datetime) -> Credential:
    """A signing certificate for one person, their PINFL under OID 1.2.860.3.16.1.2."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name), x509.NameAttribute(PINFL, pinfl)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(ca=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                           critical=False)
            .sign(ca.key, hashes.SHA256()))
    return Credential(key, cert)


def make_crl(ca: Credential, revoked: dict[int, dt.datetime], *, now: dt.datetime,
             days: int = 30) -> x509.CertificateRevocationList:
    """A CRL of ``ca`` listing ``revoked`` (serial -> revocation time), valid for ``days``."""
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject)
               .last_update(now - dt.timedelta(minutes=5)).next_update(now + days * DAY)
               .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                              critical=False))
    for serial, when in revoked.items():
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build())
    return builder.sign(ca.key, hashes.SHA256())


def sign_cms(signer: Credential, content: bytes, *, detached: bool) -> bytes:
    """PKCS#7/CMS SignedData (DER) with signed attributes, including the signing time (now)."""
    options = [pkcs7.PKCS7Options.Binary]
    if detached:
        options.append(pkcs7.PKCS7Options.DetachedSignature)
    return (pkcs7.PKCS7SignatureBuilder().set_data(content)
            .add_signer(signer.cert, signer.key, hashes.SHA256())
            .sign(serialization.Encoding.DER, options))


@dataclass
class TestPki:
    """A trusted CA with a CRL, a foreign CA, and the people the contract kit's cases need:
    the expected signer, another trusted person, and the signer's expired, revoked and
    foreign-issued certificates. It is a ready :class:`ports.kits.signature.SignatureBench`."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    signer_pinfl: str = "42807920150026"
    other_pinfl: str = "31501850290017"
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __post_init__(self) -> None:
        now = self.now
        self.ca = make_ca("Shifo Test CA", now=now)
        self.foreign_ca = make_ca("Shifo Test CA", now=now)  # same name, other key: a forgery
        live = {"not_before": now - DAY, "not_after": now + 365 * DAY}
        self.signer = make_person(self.ca, self.signer_pinfl, "Karimova Dilnoza", **live)
        self.other = make_person(self.ca, self.other_pinfl, "Rashidov Bekzod", **live)
        self.expired = make_person(self.ca, self.signer_pinfl, "Karimova Dilnoza",
                                   not_before=now - 400 * DAY, not_after=now - DAY)
        self.revoked = make_person(self.ca, self.signer_pinfl, "Karimova Dilnoza", **live)
        self.untrusted = make_person(self.foreign_ca, self.signer_pinfl, "Karimova Dilnoza", **live)
        self.crl = make_crl(self.ca, {self.revoked.cert.serial_number: now - dt.timedelta(hours=1)}, now=now)

    @property
    def crl_pem(self) -> bytes:
        return self.crl.public_bytes(serialization.Encoding.PEM)

    def crl_revoking_signer_pem(self) -> bytes:
        """The CRL as republished after the ``valid`` signer's key was lost a day ago."""
        now = dt.datetime.now(dt.UTC)
        revoked = {self.revoked.cert.serial_number: self.now - dt.timedelta(hours=1),
                   self.signer.cert.serial_number: now - DAY}
        crl = make_crl(self.ca, revoked, now=now + dt.timedelta(seconds=1))
        return crl.public_bytes(serialization.Encoding.PEM)

    def write_trust_dir(self, path: Path) -> Path:
        """The layout the X.509 adapter reads: CA certificates (``*.pem``) and CRLs (``*.crl``)."""
        path.mkdir(parents=True, exist_ok=True)
        (path / "ca.pem").write_bytes(self.ca.cert_pem)
        (path / "ca.crl").write_bytes(self.crl_pem)
        return path

    def sign(self, case: str, content: bytes, *, detached: bool) -> bytes:
        who = {"valid": self.signer, "other_signer": self.other, "expired": self.expired,
               "revoked": self.revoked, "untrusted": self.untrusted}[case]
        return sign_cms(who, content, detached=detached)
