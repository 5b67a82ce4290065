"""The signature port's contract kit: the cases every ``signature.<name>`` adapter must pass.

Use it from any adapter package's tests (it needs pytest and pytest-asyncio)::

    from ports.kits.signature import SignatureContract, SignatureKitSubject
    from ports.kits.pki import TestPki

    class TestMyAdapter(SignatureContract):
        @pytest.fixture
        async def signature_kit_subject(self, tmp_path):
            pki = TestPki()                       # or a bench of your own
            yield SignatureKitSubject(adapter=my_adapter_trusting(pki), bench=pki)

The *bench* makes the signatures of each case with keys the adapter's trust configuration knows
(or, for a remote provider, that its stub knows). Loaded as a plugin (``-p ports.kits.signature``)
the module also offers the ``signature_pki`` fixture. See ``docs/signature-adapters.md``.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import pytest

from core.canonical import canonical_json
from ports.kits.pki import TestPki
from ports.signature import Signature, Verification

Case = Literal["valid", "other_signer", "expired", "revoked", "untrusted"]
_PRESCRIPTION = {"patient": "30101901234569", "drug": "Amoksitsillin 500 mg", "quantity": 2,
                 "note": "kuniga 3 mahal, ovqatdan keyin — после еды"}
CONTENT = canonical_json(_PRESCRIPTION)
ALTERED = canonical_json({**_PRESCRIPTION, "quantity": 9})  # same length: a one-byte forgery


class SignatureBench(Protocol):
    """Makes the signatures of each case. ``valid``, ``expired``, ``revoked`` and ``untrusted``
    are by the person ``signer_pinfl``; ``other_signer`` is by ``other_pinfl``, also trusted.
    ``expired``: certificate no longer valid; ``revoked``: listed as revoked before signing;
    ``untrusted``: issued by a CA the adapter does not trust (the same CA name is fine)."""

    signer_pinfl: str
    other_pinfl: str

    def sign(self, case: str, content: bytes, *, detached: bool) -> bytes: ...


@dataclass
class SignatureKitSubject:
    adapter: Signature
    bench: SignatureBench
    # publishes, the way an operator would (a new CRL in the trust directory, a call to the
    # provider), that the bench's ``valid`` certificate was revoked a day ago; None: the subject
    # cannot, and the kit skips the case
    revoke: Callable[[], Awaitable[None]] | None = None


def _refused(result: Verification) -> None:
    assert isinstance(result, Verification)
    assert result.valid is False
    assert result.reason, "a refusal must say why, in words a user can act on"


@pytest.mark.asyncio
class SignatureContract:
    """Subclass and provide the ``signature_kit_subject`` fixture; every test here must pass."""

    @pytest.fixture(params=[True, False], ids=["detached", "attached"])
    def detached(self, request: pytest.FixtureRequest) -> bool:
        return bool(request.param)

    async def test_valid_signature_names_the_signer(self, signature_kit_subject: SignatureKitSubject,
                                                    detached: bool) -> None:
        s = signature_kit_subject
        signature = s.bench.sign("valid", CONTENT, detached=detached)
        result = await s.adapter.verify(CONTENT, signature, detached=detached)
        assert result.valid is True, result.reason
        assert result.reason is None
        assert result.signer_pinfl == s.bench.signer_pinfl
        assert result.certificate_serial
        assert result.signing_time is not None and result.signing_time.tzinfo is not None
        assert abs(result.signing_time - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=10)
        expected = await s.adapter.verify(CONTENT, signature, detached=detached,
                                          signer_pinfl=s.bench.signer_pinfl)
        assert expected.valid is True, expected.reason

    async def test_altered_content_is_refused(self, signature_kit_subject: SignatureKitSubject,
                                              detached: bool) -> None:
        s = signature_kit_subject
        signature = s.bench.sign("valid", CONTENT, detached=detached)
        _refused(await s.adapter.verify(ALTERED, signature, detached=detached))
        if not detached:  # the document inside the signature altered too: the digest must fail
            assert signature.count(CONTENT) == 1, "an attached PKCS#7 carries the document verbatim"
            forged = signature.replace(CONTENT, ALTERED)
            _refused(await s.adapter.verify(ALTERED, forged, detached=False))

    async def test_wrong_signer_is_named_and_refused_when_another_is_expected(
            self, signature_kit_subject: SignatureKitSubject, detached: bool) -> None:
        s = signature_kit_subject
        signature = s.bench.sign("other_signer", CONTENT, detached=detached)
        plain = await s.adapter.verify(CONTENT, signature, detached=detached)
        assert plain.valid is True and plain.signer_pinfl == s.bench.other_pinfl != s.bench.signer_pinfl
        wrong = await s.adapter.verify(CONTENT, signature, detached=detached,
                                       signer_pinfl=s.bench.signer_pinfl)
        _refused(wrong)
        assert wrong.signer_pinfl == s.bench.other_pinfl

    @pytest.mark.parametrize("case", ["expired", "revoked", "untrusted"])
    async def test_bad_certificate_is_refused(self, signature_kit_subject: SignatureKitSubject,
                                              detached: bool, case: str) -> None:
        s = signature_kit_subject
        signature = s.bench.sign(case, CONTENT, detached=detached)
        _refused(await s.adapter.verify(CONTENT, signature, detached=detached))
        _refused(await s.adapter.verify(CONTENT, signature, detached=detached,
                                        signer_pinfl=s.bench.signer_pinfl))

    async def test_signature_of_the_other_mode_is_refused(self, signature_kit_subject: SignatureKitSubject,
                                                          detached: bool) -> None:
        s = signature_kit_subject
        signature = s.bench.sign("valid", CONTENT, detached=not detached)
        _refused(await s.adapter.verify(CONTENT, signature, detached=detached))

    async def test_a_revocation_published_later_is_felt_at_once(
            self, signature_kit_subject: SignatureKitSubject, detached: bool) -> None:
        """Whatever an adapter remembers between calls (a validated path, a provider's answer),
        the first verification after a revocation is published refuses the signature."""
        s = signature_kit_subject
        if s.revoke is None:
            pytest.skip("this subject cannot publish a revocation")
        signature = s.bench.sign("valid", CONTENT, detached=detached)
        for _ in range(2):  # twice: a cache, if any, now holds the signer
            assert (await s.adapter.verify(CONTENT, signature, detached=detached)).valid
        await s.revoke()
        _refused(await s.adapter.verify(CONTENT, signature, detached=detached))

    @pytest.mark.parametrize("kind", ["empty", "random", "text", "base64", "truncated", "json"])
    async def test_garbage_is_refused_without_raising(self, signature_kit_subject: SignatureKitSubject,
                                                      detached: bool, kind: str) -> None:
        s = signature_kit_subject
        good = s.bench.sign("valid", CONTENT, detached=detached)
        garbage = {"empty": b"", "random": os.urandom(512), "text": b"not a signature at all",
                   "base64": base64.b64encode(good),  # the right signature, wrongly encoded
                   "truncated": good[: len(good) // 2], "json": CONTENT}[kind]
        _refused(await s.adapter.verify(CONTENT, garbage, detached=detached))


@pytest.fixture(scope="session")
def signature_pki() -> TestPki:
    """A fresh test PKI per session (when the kit is loaded as a plugin)."""
    return TestPki()
