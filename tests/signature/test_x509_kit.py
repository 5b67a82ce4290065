"""The X.509/CMS adapter passes the contract kit, trusting a test PKI made for this run."""

from __future__ import annotations

import pytest

from adapters.signature.x509 import create
from host.settings import Settings
from ports.kits.pki import TestPki
from ports.kits.signature import SignatureContract, SignatureKitSubject


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


class TestX509Adapter(SignatureContract):
    @pytest.fixture
    def signature_kit_subject(self, pki: TestPki, tmp_path) -> SignatureKitSubject:
        trust = pki.write_trust_dir(tmp_path / "trust")
        adapter = create(Settings(extra={"signature_trust_dir": str(trust)}))

        async def revoke() -> None:
            (trust / "ca.crl").write_bytes(pki.crl_revoking_signer_pem())

        return SignatureKitSubject(adapter=adapter, bench=pki, revoke=revoke)
