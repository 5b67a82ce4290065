"""What the X.509 adapter does beyond the kit: reads the PINFL OID, requires revocation lists,
follows a republished CRL, refuses future signing times and multiple signers; and how fast."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from adapters.signature.cms import describe, inspect
from adapters.signature.trust import TrustDirectory, TrustStore
from adapters.signature.x509 import X509Signature, create
from core.errors import ConfigurationError
from host.settings import Settings
from ports.kits.pki import DAY, TestPki, make_crl, make_person, sign_cms
from ports.kits.signature import CONTENT


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


def test_pinfl_is_read_from_the_national_oid(pki: TestPki) -> None:
    signer = describe(pki.signer.cert.public_bytes(serialization.Encoding.DER))
    assert signer.pinfl == pki.signer_pinfl and signer.name == "Karimova Dilnoza"
    assert signer.subject["1.2.860.3.16.1.2"] == pki.signer_pinfl
    assert signer.serial == format(pki.signer.cert.serial_number, "x")


async def test_certificate_without_pinfl_is_refused(pki: TestPki) -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    now = dt.datetime.now(dt.UTC)
    person = make_person(pki.ca, pki.signer_pinfl, "N", not_before=now - DAY, not_after=now + DAY)
    builder = x509.CertificateBuilder(
        subject_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "No Pinfl")]),
        issuer_name=pki.ca.cert.subject, public_key=person.key.public_key(), serial_number=7,
        not_valid_before=now - DAY, not_valid_after=now + DAY, extensions=list(person.cert.extensions))
    anonymous = type(person)(person.key, builder.sign(pki.ca.key, hashes.SHA256()))
    adapter = X509Signature(TrustStore.from_bytes([pki.ca.cert_pem], [pki.crl_pem]))
    result = await adapter.verify(CONTENT, sign_cms(anonymous, CONTENT, detached=True))
    assert result.valid is False and "PINFL" in (result.reason or "")


async def test_without_a_crl_nothing_is_valid(pki: TestPki) -> None:
    adapter = X509Signature(TrustStore.from_bytes([pki.ca.cert_pem], []))
    result = await adapter.verify(CONTENT, pki.sign("valid", CONTENT, detached=True))
    assert result.valid is False and result.signer_pinfl == pki.signer_pinfl


async def test_revocation_after_signing_leaves_the_signature_valid(pki: TestPki) -> None:
    now = dt.datetime.now(dt.UTC)
    person = make_person(pki.ca, pki.signer_pinfl, "Later", not_before=now - DAY, not_after=now + DAY)
    signature = sign_cms(person, CONTENT, detached=True)
    later = make_crl(pki.ca, {person.cert.serial_number: now + dt.timedelta(minutes=1)}, now=now)
    trust = TrustStore.from_bytes([pki.ca.cert_pem], [later.public_bytes(serialization.Encoding.PEM)])
    assert (await X509Signature(trust).verify(CONTENT, signature)).valid
    before = make_crl(pki.ca, {person.cert.serial_number: now - dt.timedelta(minutes=1)}, now=now)
    trust = TrustStore.from_bytes([pki.ca.cert_pem], [before.public_bytes(serialization.Encoding.PEM)])
    assert (await X509Signature(trust).verify(CONTENT, signature)).valid is False


async def test_republished_crl_is_picked_up(pki: TestPki, tmp_path) -> None:
    trust = pki.write_trust_dir(tmp_path)
    adapter = create(Settings(extra={"signature_trust_dir": str(trust)}))
    signature = pki.sign("valid", CONTENT, detached=True)
    assert (await adapter.verify(CONTENT, signature)).valid
    crl = make_crl(pki.ca, {pki.signer.cert.serial_number: dt.datetime.now(dt.UTC) - DAY},
                   now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    (trust / "ca.crl").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    result = await adapter.verify(CONTENT, signature)
    assert result.valid is False and "revoked" in (result.reason or "")


def test_trust_directory_must_hold_an_anchor(tmp_path, pki: TestPki) -> None:
    with pytest.raises(ConfigurationError):
        TrustDirectory(tmp_path / "missing")
    (tmp_path / "only.crl").write_bytes(pki.crl_pem)
    with pytest.raises(ConfigurationError, match="no self-signed CA"):
        TrustDirectory(tmp_path)
    with pytest.raises(ConfigurationError, match="signature_trust_dir"):
        create(Settings())


async def test_future_signing_time_is_refused(pki: TestPki) -> None:
    store = TrustStore.from_bytes([pki.ca.cert_pem], [pki.crl_pem])
    signature = pki.sign("valid", CONTENT, detached=True)
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    report = await inspect(CONTENT, signature, detached=True, trust=store, now=an_hour_ago)
    assert report.verification.valid is False and "future" in (report.verification.reason or "")


async def test_two_signers_are_refused(pki: TestPki) -> None:
    two = (pkcs7.PKCS7SignatureBuilder().set_data(CONTENT)
           .add_signer(pki.signer.cert, pki.signer.key, hashes.SHA256())
           .add_signer(pki.other.cert, pki.other.key, hashes.SHA256())
           .sign(serialization.Encoding.DER,
                 [pkcs7.PKCS7Options.Binary, pkcs7.PKCS7Options.DetachedSignature]))
    adapter = X509Signature(TrustStore.from_bytes([pki.ca.cert_pem], [pki.crl_pem]))
    assert (await adapter.verify(CONTENT, two)).valid is False


async def test_one_verify_takes_milliseconds(pki: TestPki) -> None:
    adapter = X509Signature(TrustStore.from_bytes([pki.ca.cert_pem], [pki.crl_pem]))
    signature = pki.sign("valid", CONTENT, detached=True)
    await adapter.verify(CONTENT, signature)
    rounds = 50
    started = time.perf_counter()
    for _ in range(rounds):
        assert (await adapter.verify(CONTENT, signature)).valid
    per_verify = (time.perf_counter() - started) / rounds
    print(f"one x509 verify: {per_verify * 1000:.2f} ms")
    assert per_verify < 0.25
