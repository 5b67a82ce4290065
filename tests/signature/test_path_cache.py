"""The cache of validated certificate paths: a second signature by the same person skips path
validation, but never a revocation, an expired CRL or a broken signature."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization

from adapters.signature import cms
from adapters.signature.dev import DevSignature
from adapters.signature.path_cache import PathCache
from adapters.signature.trust import TrustStore
from adapters.signature.x509 import X509Signature, create
from host.settings import Settings
from ports.kits.pki import DAY, Credential, TestPki, make_crl, make_person, sign_cms
from ports.kits.signature import ALTERED, CONTENT

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """One item per full path validation (pyHanko's CMS validation with the trust store)."""
    calls: list[bool] = []
    real: Callable[..., Awaitable[Any]] = cms._validate

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(True)
        return await real(*args, **kwargs)

    monkeypatch.setattr(cms, "_validate", counting)
    return calls


def person(pki: TestPki, name: str = "Yusupova Malika") -> Credential:
    return make_person(pki.ca, pki.signer_pinfl, name, not_before=NOW - DAY, not_after=NOW + 365 * DAY)


def store(pki: TestPki, revoked: dict[int, dt.datetime] | None = None, *, days: int = 30) -> TrustStore:
    crl = make_crl(pki.ca, revoked or {}, now=NOW, days=days)
    return TrustStore.from_bytes([pki.ca.cert_pem], [crl.public_bytes(serialization.Encoding.PEM)])


def flip_signature_bit(signature: bytes) -> bytes:
    info = asn1_cms.ContentInfo.load(signature)
    signer_info = info["content"]["signer_infos"][0]
    value = bytearray(signer_info["signature"].native)
    value[-1] ^= 1  # the last byte of ECDSA's s: still well-formed, no longer right
    signer_info["signature"] = bytes(value)
    return bytes(info.dump(force=True))


def asn1(cred: Credential) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cred.cert.public_bytes(serialization.Encoding.DER))


async def test_second_verification_of_a_signer_skips_path_validation(pki: TestPki, validations: list[bool]) -> None:
    cache = PathCache()
    adapter = X509Signature(store(pki), paths=cache)
    signer = person(pki)
    first = await adapter.verify(CONTENT, sign_cms(signer, CONTENT, detached=True))
    again = await adapter.verify(CONTENT, sign_cms(signer, CONTENT, detached=True))
    attached = await adapter.verify(ALTERED, sign_cms(signer, ALTERED, detached=False), detached=False)
    assert first.valid and again.valid and attached.valid, (first.reason, again.reason, attached.reason)
    assert again.signer_pinfl == first.signer_pinfl and again.certificate_serial == first.certificate_serial
    assert len(validations) == 1 and (cache.hits, cache.misses) == (2, 1)


async def test_setting_turns_the_cache_off(pki: TestPki, tmp_path: Path, validations: list[bool]) -> None:
    trust = pki.write_trust_dir(tmp_path)
    off = create(Settings(signature_path_cache=False, extra={"signature_trust_dir": str(trust)}))
    on = create(Settings(extra={"signature_trust_dir": str(trust)}))
    assert off.paths is None and isinstance(on.paths, PathCache)
    signature = pki.sign("valid", CONTENT, detached=True)
    for _ in range(2):
        assert (await off.verify(CONTENT, signature)).valid
    assert len(validations) == 2


async def test_a_tampered_signature_fails_although_its_path_is_cached(pki: TestPki,
                                                                      validations: list[bool]) -> None:
    adapter = X509Signature(store(pki), paths=PathCache())
    signer = person(pki)
    detached, attached = sign_cms(signer, CONTENT, detached=True), sign_cms(signer, CONTENT, detached=False)
    assert (await adapter.verify(CONTENT, detached)).valid
    altered = await adapter.verify(ALTERED, detached)
    assert altered.valid is False and "changed" in (altered.reason or "")
    forged = await adapter.verify(ALTERED, attached.replace(CONTENT, ALTERED), detached=False)
    assert forged.valid is False
    assert (await adapter.verify(CONTENT, flip_signature_bit(detached))).valid is False
    assert (await adapter.verify(CONTENT, sign_cms(signer, CONTENT, detached=True))).valid
    assert len(validations) == 4  # the three forgeries were judged by the full validation


async def test_a_republished_crl_revoking_the_signer_is_felt_at_once(pki: TestPki, tmp_path: Path) -> None:
    signer = person(pki)
    (tmp_path / "ca.pem").write_bytes(pki.ca.cert_pem)
    (tmp_path / "ca.crl").write_bytes(make_crl(pki.ca, {}, now=NOW).public_bytes(serialization.Encoding.PEM))
    adapter = create(Settings(extra={"signature_trust_dir": str(tmp_path)}))
    assert isinstance(adapter.paths, PathCache)
    signature = sign_cms(signer, CONTENT, detached=True)
    assert (await adapter.verify(CONTENT, signature)).valid
    assert (await adapter.verify(CONTENT, signature)).valid and adapter.paths.hits == 1
    revoking = make_crl(pki.ca, {signer.cert.serial_number: NOW - DAY}, now=NOW + dt.timedelta(seconds=1))
    (tmp_path / "ca.crl").write_bytes(revoking.public_bytes(serialization.Encoding.DER))
    result = await adapter.verify(CONTENT, signature)
    assert result.valid is False and "revoked" in (result.reason or "")
    assert adapter.paths.hits == 1 and len(adapter.paths) == 0


async def test_dev_signer_revocation_drops_the_cached_path(tmp_path: Path) -> None:
    dev = DevSignature(tmp_path / "keys", paths=PathCache())
    signature = await dev.sign(CONTENT, signer_pinfl="42807920150026")
    assert (await dev.verify(CONTENT, signature)).valid
    assert (await dev.verify(CONTENT, signature)).valid
    dev.revoke(dev.enroll("42807920150026").cert.serial_number)
    assert (await dev.verify(CONTENT, signature)).valid is False


async def test_entry_expires_at_the_crls_next_update(pki: TestPki, validations: list[bool]) -> None:
    clock = {"now": NOW}
    cache = PathCache(clock=lambda: clock["now"])
    adapter = X509Signature(store(pki, days=2), paths=cache)
    signer = person(pki)
    signature = sign_cms(signer, CONTENT, detached=True)
    assert (await adapter.verify(CONTENT, signature)).valid
    clock["now"] = NOW + 2 * DAY - dt.timedelta(seconds=1)
    assert (await adapter.verify(CONTENT, signature)).valid and len(validations) == 1
    clock["now"] = NOW + 2 * DAY  # the CRL's nextUpdate: validate again
    assert (await adapter.verify(CONTENT, signature)).valid and len(validations) == 2
    assert cache.hits == 1


def test_cached_path_covers_only_signing_times_before_a_listed_revocation(pki: TestPki) -> None:
    now = dt.datetime.now(dt.UTC)  # the signature's signing time is the real time, not NOW's (import time)
    signer = person(pki)
    later = now + dt.timedelta(hours=1)
    trust = store(pki, {signer.cert.serial_number: later})
    report = cms._inspect(CONTENT, sign_cms(signer, CONTENT, detached=True), detached=True, trust=trust,
                          now=now, skew=dt.timedelta(minutes=5), paths=(cache := PathCache()))
    assert report.verification.valid, report.verification.reason
    cert = asn1(signer)
    assert cache.covers(trust, cert, now + dt.timedelta(minutes=59))
    assert not cache.covers(trust, cert, later)
    assert not cache.covers(trust, cert, now - 2 * DAY)  # before the certificate was valid
    assert not cache.covers(store(pki), cert, now)  # another store: nothing carried over


async def test_cache_is_bounded_least_recently_used_first(pki: TestPki, validations: list[bool]) -> None:
    cache = PathCache(size=2)
    adapter = X509Signature(store(pki), paths=cache)
    a, b, c = person(pki, "A"), person(pki, "B"), person(pki, "C")
    for who in (a, b, a, c):  # c pushes out b, the least recently used
        assert (await adapter.verify(CONTENT, sign_cms(who, CONTENT, detached=True))).valid
    assert len(cache) == 2 and len(validations) == 3
    assert (await adapter.verify(CONTENT, sign_cms(a, CONTENT, detached=True))).valid
    assert (await adapter.verify(CONTENT, sign_cms(b, CONTENT, detached=True))).valid
    assert len(validations) == 4 and len(cache) == 2
