"""The dev signer: signs for demo users with keys it makes under its own directory, verifies
through the same CMS path, and passes the contract kit against its own dev CA."""

from __future__ import annotations

import datetime as dt
import stat

import pytest

from adapters.signature.dev import DevSignature, create
from core.errors import ValidationFailed
from host.settings import Settings
from ports.kits.pki import DAY, make_ca, make_person, sign_cms
from ports.kits.signature import CONTENT, SignatureContract, SignatureKitSubject
from ports.signature import DevSigner

SIGNER, OTHER = "42807920150026", "31501850290017"


class DevBench:
    """Valid and other-signer signatures come from the dev keys; the bad cases are made against
    the dev CA (an expired certificate, a certificate the dev CA revoked) or a foreign CA."""

    signer_pinfl, other_pinfl = SIGNER, OTHER

    def __init__(self, dev: DevSignature) -> None:
        now = dt.datetime.now(dt.UTC)
        self.dev = dev
        self.expired = make_person(dev.ca, SIGNER, "Old", not_before=now - 400 * DAY, not_after=now - DAY)
        self.revoked = make_person(dev.ca, SIGNER, "Lost", not_before=now - DAY, not_after=now + DAY)
        dev.revoke(self.revoked.cert.serial_number)
        self.untrusted = make_person(make_ca("Shifo Dev CA (not for production)", now=now), SIGNER, "Forged",
                                     not_before=now - DAY, not_after=now + DAY)

    def sign(self, case: str, content: bytes, *, detached: bool) -> bytes:
        who = {"valid": lambda: self.dev.enroll(SIGNER, "Karimova Dilnoza"),
               "other_signer": lambda: self.dev.enroll(OTHER, "Rashidov Bekzod"),
               "expired": lambda: self.expired, "revoked": lambda: self.revoked,
               "untrusted": lambda: self.untrusted}[case]()
        return sign_cms(who, content, detached=detached)


class TestDevAdapter(SignatureContract):
    @pytest.fixture
    def signature_kit_subject(self, tmp_path) -> SignatureKitSubject:
        dev = create(Settings(extra={"signature_dev_keys_dir": str(tmp_path / "keys")}))

        async def revoke() -> None:
            dev.revoke(dev.enroll(SIGNER).cert.serial_number, since=dt.datetime.now(dt.UTC) - DAY)

        return SignatureKitSubject(adapter=dev, bench=DevBench(dev), revoke=revoke)


async def test_signs_for_a_user_and_keeps_keys_private_and_stable(tmp_path) -> None:
    keys = tmp_path / "keys"
    dev = DevSignature(keys)
    assert isinstance(dev, DevSigner)
    signature = await dev.sign(CONTENT, signer_pinfl=SIGNER, signer_name="Karimova Dilnoza")
    result = await dev.verify(CONTENT, signature, signer_pinfl=SIGNER)
    assert result.valid and result.signer_name == "Karimova Dilnoza", result.reason
    key_file = keys / "people" / f"{SIGNER}.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((keys / "ca.key").stat().st_mode) == 0o600
    again = DevSignature(keys)  # a restart keeps the CA and the user's certificate
    assert again.ca.cert == dev.ca.cert and again.enroll(SIGNER).cert == dev.enroll(SIGNER).cert
    assert (await again.verify(CONTENT, signature)).valid


async def test_revoked_user_gets_a_new_certificate_and_old_signatures_fail_after(tmp_path) -> None:
    dev = DevSignature(tmp_path)
    first = dev.enroll(SIGNER)
    dev.revoke(first.cert.serial_number)
    assert DevSignature(tmp_path).enroll(SIGNER).cert.serial_number != first.cert.serial_number
    late = sign_cms(first, CONTENT, detached=True)  # signed after the revocation
    assert (await DevSignature(tmp_path).verify(CONTENT, late)).valid is False


async def test_refuses_a_malformed_pinfl_before_touching_files(tmp_path) -> None:
    dev = DevSignature(tmp_path)
    with pytest.raises(ValidationFailed, match="PINFL"):
        await dev.sign(CONTENT, signer_pinfl="../../etc/passwd")
    assert sorted(p.name for p in (tmp_path / "people").iterdir()) == []
