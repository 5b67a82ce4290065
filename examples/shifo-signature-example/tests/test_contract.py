"""The example adapter proves itself with Shifo's signature contract kit."""

from __future__ import annotations

import pytest
from shifo_signature_example.adapter import create

from ports.kits.pki import TestPki
from ports.kits.signature import SignatureContract, SignatureKitSubject


class Settings:
    """Shifo passes its own settings; the adapter reads only ``extra``."""

    def __init__(self, **extra: str) -> None:
        self.extra = extra


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


class TestExampleAdapter(SignatureContract):
    @pytest.fixture
    def signature_kit_subject(self, pki: TestPki) -> SignatureKitSubject:
        adapter = create(Settings(example_trust_pem=pki.ca.cert_pem.decode(),
                                  example_crl_pem=pki.crl_pem.decode()))
        return SignatureKitSubject(adapter=adapter, bench=pki)
