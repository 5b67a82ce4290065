"""The example third-party package registers through the entry-point group and passes the kit.

The suite loads it from its source directory (no install); its README shows the pip way."""

from __future__ import annotations

import importlib
import sys
import tomllib
from pathlib import Path

import pytest

from ports.kits.pki import TestPki
from ports.kits.signature import SignatureContract, SignatureKitSubject

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shifo-signature-example"


def _factory():
    """Resolve the example's own entry point the way ``importlib.metadata`` would."""
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    target = meta["project"]["entry-points"]["shifo.adapters"]["signature.example"]
    module, _, attr = target.partition(":")
    if str(EXAMPLE / "src") not in sys.path:
        sys.path.insert(0, str(EXAMPLE / "src"))
    return getattr(importlib.import_module(module), attr)


class _Settings:
    def __init__(self, **extra: str) -> None:
        self.extra = extra


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


class TestExampleAdapter(SignatureContract):
    @pytest.fixture
    def signature_kit_subject(self, pki: TestPki) -> SignatureKitSubject:
        create = _factory()
        adapter = create(_Settings(example_trust_pem=pki.ca.cert_pem.decode(),
                                   example_crl_pem=pki.crl_pem.decode()))
        return SignatureKitSubject(adapter=adapter, bench=pki)


def test_builtin_adapters_are_registered() -> None:
    from host import adapters

    assert {"x509", "eimzo", "dev"} <= set(adapters.available("signature"))
