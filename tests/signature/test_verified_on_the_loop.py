"""Where a verification runs: over a cached path on the event loop (parsing and one signature
check), anything needing path validation, and any oversized signature, in a worker thread."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from adapters.signature import cms
from adapters.signature.path_cache import PathCache
from adapters.signature.trust import TrustStore
from adapters.signature.x509 import X509Signature
from ports.kits.pki import DAY, Credential, TestPki, make_crl, make_person, sign_cms
from ports.kits.signature import ALTERED, CONTENT

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of each function the signature module hands to a worker thread, in order."""
    handed: list[str] = []
    real = asyncio.to_thread

    async def counting(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        handed.append(func.__name__)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(cms.asyncio, "to_thread", counting)
    return handed


def adapter(pki: TestPki) -> X509Signature:
    crl = make_crl(pki.ca, {}, now=NOW)
    trust = TrustStore.from_bytes([pki.ca.cert_pem], [crl.public_bytes(serialization.Encoding.PEM)])
    return X509Signature(trust, paths=PathCache())


def person(pki: TestPki) -> Credential:
    return make_person(pki.ca, pki.signer_pinfl, "Yusupova Malika", not_before=NOW - DAY, not_after=NOW + DAY)


async def test_a_signer_whose_path_is_cached_is_verified_on_the_event_loop(pki: TestPki, threads: list[str],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    x509, signer = adapter(pki), person(pki)
    first = await x509.verify(CONTENT, sign_cms(signer, CONTENT, detached=True))
    assert first.valid and threads == ["_inspect"]  # nothing cached: validated in a worker thread
    ran_on: list[int] = []
    quick = cms._quick

    def watched(*args: Any, **kwargs: Any) -> Any:
        ran_on.append(threading.get_ident())
        return quick(*args, **kwargs)

    monkeypatch.setattr(cms, "_quick", watched)
    again = await x509.verify(CONTENT, sign_cms(signer, CONTENT, detached=True))
    attached = await x509.verify(ALTERED, sign_cms(signer, ALTERED, detached=False), detached=False)
    assert again.valid and attached.valid, (again.reason, attached.reason)
    assert (again.signer_pinfl, again.certificate_serial) == (first.signer_pinfl, first.certificate_serial)
    assert threads == ["_inspect"] and ran_on == [threading.get_ident()] * 2


async def test_a_forgery_over_a_cached_path_goes_to_the_full_validation(pki: TestPki, threads: list[str]) -> None:
    x509, signer = adapter(pki), person(pki)
    signature = sign_cms(signer, CONTENT, detached=True)
    assert (await x509.verify(CONTENT, signature)).valid
    altered = await x509.verify(ALTERED, signature)
    assert altered.valid is False and "changed" in (altered.reason or "")
    assert threads == ["_inspect", "_inspect"]  # judged, with its reason, by the full validation


async def test_refusals_found_in_parsing_are_answered_on_the_loop(pki: TestPki, threads: list[str]) -> None:
    x509, signer = adapter(pki), person(pki)
    assert (await x509.verify(CONTENT, sign_cms(signer, CONTENT, detached=True))).valid
    unreadable = await x509.verify(CONTENT, b"not a CMS document")
    carried = await x509.verify(CONTENT, sign_cms(signer, CONTENT, detached=False))  # detached expected
    assert unreadable.valid is False and "readable" in (unreadable.reason or "")
    assert carried.valid is False and "carries the document" in (carried.reason or "")
    assert threads == ["_inspect"]


async def test_an_oversized_signature_is_parsed_in_a_worker_thread(pki: TestPki, threads: list[str]) -> None:
    x509, signer = adapter(pki), person(pki)
    assert (await x509.verify(CONTENT, sign_cms(signer, CONTENT, detached=True))).valid
    huge = await x509.verify(CONTENT, b"\x30" + bytes(cms.QUICK_MAX_BYTES))
    assert huge.valid is False and threads == ["_inspect", "_inspect"]


async def test_without_a_cache_every_verification_runs_in_a_worker_thread(pki: TestPki,
                                                                          threads: list[str]) -> None:
    x509, signer = adapter(pki), person(pki)
    x509.paths = None
    for _ in range(2):
        assert (await x509.verify(CONTENT, sign_cms(signer, CONTENT, detached=True))).valid
    assert threads == ["_inspect", "_inspect"]
