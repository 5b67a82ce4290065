"""The E-IMZO adapter passes the contract kit against a stub server that verifies for real and
answers in E-IMZO-SERVER's documented shape; its failure answers are refusals or 503s."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator

import pytest

from adapters.signature.eimzo import EimzoSignature, create
from adapters.signature.trust import TrustStore
from host.settings import Settings
from ports.kits.pki import TestPki
from ports.kits.signature import CONTENT, SignatureContract, SignatureKitSubject
from ports.signature import SignatureUnavailable
from tests.signature.eimzo_stub import EimzoStub


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


@pytest.fixture(scope="module")
def stub(pki: TestPki) -> Iterator[EimzoStub]:
    with EimzoStub(TrustStore.from_bytes([pki.ca.cert_pem], [pki.crl_pem])) as server:
        yield server


@pytest.fixture
async def eimzo(stub: EimzoStub) -> AsyncIterator[EimzoSignature]:
    stub.force = None
    adapter = create(Settings(extra={"eimzo_url": stub.url, "eimzo_host": "shifo.example"}))
    yield adapter
    await adapter.close()


class TestEimzoAdapter(SignatureContract):
    @pytest.fixture
    def signature_kit_subject(self, pki: TestPki, eimzo: EimzoSignature) -> SignatureKitSubject:
        return SignatureKitSubject(adapter=eimzo, bench=pki)


async def test_requests_follow_the_documented_api(pki: TestPki, stub: EimzoStub,
                                                  eimzo: EimzoSignature) -> None:
    stub.requests.clear()
    detached = pki.sign("valid", CONTENT, detached=True)
    attached = pki.sign("valid", CONTENT, detached=False)
    assert (await eimzo.verify(CONTENT, detached)).valid
    assert (await eimzo.verify(CONTENT, attached, detached=False)).valid
    (p1, h1, b1), (p2, _, b2) = stub.requests
    assert p1 == "/backend/pkcs7/verify/detached"
    assert b1 == base64.b64encode(CONTENT) + b"|" + base64.b64encode(detached)
    assert p2 == "/backend/pkcs7/verify/attached" and b2 == base64.b64encode(attached)
    assert h1["Host"] == "shifo.example" and h1["X-Real-IP"]


@pytest.mark.parametrize("code, body", [
    (200, {"status": -1, "message": "Invalid PKCS#7"}),
    (400, {"success": False, "className": "DecoderException", "reason": "unable to decode base64 string"}),
    (200, {"status": 1, "message": "", "pkcs7Info": {"signers": []}}),
])
async def test_failure_answers_are_refusals(pki: TestPki, stub: EimzoStub, eimzo: EimzoSignature,
                                            code: int, body: dict) -> None:
    stub.force = (code, json.dumps(body).encode())
    result = await eimzo.verify(CONTENT, pki.sign("valid", CONTENT, detached=True))
    assert result.valid is False and result.reason


async def test_two_signers_and_missing_flags_are_refused(pki: TestPki, stub: EimzoStub,
                                                         eimzo: EimzoSignature) -> None:
    signer = {"verified": True, "certificateVerified": True, "certificateValidAtSigningTime": True,
              "signingTime": "2026-01-01 10:00:00",
              "certificate": [{"subjectInfo": {"1.2.860.3.16.1.2": pki.signer_pinfl, "CN": "X"},
                               "serialNumber": "AB12"}]}
    stub.force = (200, json.dumps({"status": 1, "pkcs7Info": {"signers": [signer, signer]}}).encode())
    assert (await eimzo.verify(CONTENT, b"\x30\x00")).valid is False
    one = {**signer}
    stub.force = (200, json.dumps({"status": 1, "pkcs7Info": {"signers": [one]}}).encode())
    ok = await eimzo.verify(CONTENT, b"\x30\x00")
    assert ok.valid and ok.certificate_serial == "ab12" and ok.signer_pinfl == pki.signer_pinfl
    assert ok.signing_time == dt.datetime(2026, 1, 1, 5, 0, tzinfo=dt.UTC)  # 10:00 in Tashkent
    del one["certificateValidAtSigningTime"]
    stub.force = (200, json.dumps({"status": 1, "pkcs7Info": {"signers": [one]}}).encode())
    assert (await eimzo.verify(CONTENT, b"\x30\x00")).valid is False


@pytest.mark.parametrize("code, body", [(500, b"<html>Internal error</html>"), (502, b""),
                                        (200, b'{"status": 1, "message": ""}'), (200, b"[1, 2]")])
async def test_no_verdict_is_unavailable(pki: TestPki, stub: EimzoStub, eimzo: EimzoSignature,
                                         code: int, body: bytes) -> None:
    stub.force = (code, body)
    with pytest.raises(SignatureUnavailable) as caught:
        await eimzo.verify(CONTENT, pki.sign("valid", CONTENT, detached=True))
    assert caught.value.status == 503


async def test_unreachable_server_is_unavailable(pki: TestPki) -> None:
    adapter = EimzoSignature("http://127.0.0.1:9", timeout=2)
    try:
        with pytest.raises(SignatureUnavailable):
            await adapter.verify(CONTENT, pki.sign("valid", CONTENT, detached=True))
    finally:
        await adapter.close()
