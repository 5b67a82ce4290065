"""PKCS#7/CMS verification over pyHanko and pyhanko-certvalidator: the one path every local
adapter (x509, dev) takes, so no adapter hand-parses ASN.1 or re-implements path validation.

The certificate is validated at the signing time (the signed ``signingTime`` attribute), against
the trust anchors, with revocation lists *required* for every non-root certificate in the path:
a missing or stale CRL makes a signature not valid rather than silently unchecked. A path that
validated may be remembered (:mod:`adapters.signature.path_cache`); the signature never is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.x509.oid import NameOID
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.general import SignedDataCerts, extract_certificate_info, extract_signer_info
from pyhanko.sign.validation.generic_cms import async_validate_cms_signature, async_validate_detached_cms
from pyhanko.sign.validation.status import SignatureStatus
from pyhanko_certvalidator import ValidationContext

from adapters.signature.path_cache import PathCache, signature_holds
from adapters.signature.trust import TrustStore
from ports.signature import PINFL_OID, Verification, refused

log = logging.getLogger(__name__)
QUICK_MAX_BYTES = 16_384  # a CMS signature and its certificate: 1-3 KB; larger ones are parsed off the loop
_PINFL = x509.ObjectIdentifier(PINFL_OID)

_TRUST_REASONS: dict[object, str] = {
    AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND:
        "the signer's certificate was not issued by a trusted certification authority",
    AdESIndeterminate.OUT_OF_BOUNDS_NO_POE: "the signer's certificate had expired at the signing time",
    AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED: "the signer's certificate had expired at the signing time",
    AdESIndeterminate.EXPIRED: "the signer's certificate had expired at the signing time",
    AdESIndeterminate.NOT_YET_VALID: "the signer's certificate was not yet valid at the signing time",
    AdESIndeterminate.REVOKED_NO_POE: "the signer's certificate was revoked before the signing time",
    AdESIndeterminate.REVOKED_CA_NO_POE: "the issuing authority's certificate was revoked",
    AdESIndeterminate.TRY_LATER: "no current revocation list for the issuing authority; the operator "
                                 "must refresh the revocation lists",
}


@dataclass(frozen=True)
class Signer:
    pinfl: str | None
    name: str | None
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    issuer: str
    subject: dict[str, str]


def describe(cert_der: bytes) -> Signer:
    """Who a certificate names: the PINFL under OID 1.2.860.3.16.1.2, the common name, the serial."""
    cert = x509.load_der_x509_certificate(cert_der)
    pinfl = [a.value for a in cert.subject.get_attributes_for_oid(_PINFL)]
    names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    subject = {a.oid.dotted_string if a.oid == _PINFL else a.rfc4514_attribute_name: str(a.value)
               for a in cert.subject}
    return Signer(pinfl=str(pinfl[0]) if len(pinfl) == 1 else None, name=str(names[0]) if names else None,
                  serial=format(cert.serial_number, "x"), not_before=cert.not_valid_before_utc,
                  not_after=cert.not_valid_after_utc, issuer=cert.issuer.rfc4514_string(), subject=subject)


@dataclass(frozen=True)
class Report:
    """Everything one verification learned; adapters and the E-IMZO stub map it to their answers."""

    verification: Verification
    signer: Signer | None = None
    intact: bool = False  # the signature math and the content digest hold
    trusted: bool = False  # the certificate path validated at the signing time
    revoked: bool = False
    content: bytes | None = None  # the encapsulated document of an attached signature


def _signing_time(signer_info: cms.SignerInfo) -> dt.datetime | None:
    for attr in signer_info["signed_attrs"]:
        if attr["type"].native == "signing_time":
            value: dt.datetime = attr["values"][0].native
            return value
    return None


async def _validate(signed: cms.SignedData, content: bytes, detached: bool,
                    context: ValidationContext) -> SignatureStatus:
    if detached:
        return await async_validate_detached_cms(content, signed, signer_validation_context=context)
    return await async_validate_cms_signature(signed, validation_context=context)


def _inspect(content: bytes, signature: bytes, *, detached: bool, trust: TrustStore,
             now: dt.datetime, skew: dt.timedelta, paths: PathCache | None = None) -> Report:
    """The whole verification (path validation included where the cache has no path)."""
    report = _verdict(content, signature, detached=detached, trust=trust, now=now, skew=skew, paths=paths,
                      full=True)
    if report is None:  # pragma: no cover - a full verification always answers
        raise AssertionError("a full verification gave no verdict")
    return report


def _quick(content: bytes, signature: bytes, *, detached: bool, trust: TrustStore,
           now: dt.datetime, skew: dt.timedelta, paths: PathCache) -> Report | None:
    """What needs no path validation: a refusal found in parsing, or a signature that holds over a
    path the cache covers; None where the path must be validated."""
    return _verdict(content, signature, detached=detached, trust=trust, now=now, skew=skew, paths=paths,
                    full=False)


def _verdict(content: bytes, signature: bytes, *, detached: bool, trust: TrustStore, now: dt.datetime,
             skew: dt.timedelta, paths: PathCache | None, full: bool) -> Report | None:
    try:
        signed = cms.ContentInfo.load(signature)["content"]
        signer_info = extract_signer_info(signed)
        certs: SignedDataCerts = extract_certificate_info(signed)
        signer = describe(certs.signer_cert.dump())
        when = _signing_time(signer_info)
        embedded = signed["encap_content_info"]["content"]
        carried = None if embedded.native is None else bytes(embedded.native)
    except Exception:  # any parse failure of untrusted input is a verdict, not an error
        log.debug("unreadable signature", exc_info=True)
        return Report(refused("the signature is not a readable PKCS#7/CMS document with one signer"))
    known: dict[str, Any] = {"signer_pinfl": signer.pinfl, "signer_name": signer.name,
                             "certificate_serial": signer.serial, "signing_time": when}
    if detached and carried is not None:
        return Report(refused("a detached signature was expected, but this one carries the document",
                              **known), signer)
    if not detached and carried is None:
        return Report(refused("the signature does not carry the document (it is detached)", **known), signer)
    if when is not None and when > now + skew:
        return Report(refused("the signing time lies in the future; check the signing computer's clock",
                              **known), signer)
    moment = when or now
    content_type = signed["encap_content_info"]["content_type"].native
    if (paths is not None and (carried is None or carried == content)
            and paths.covers(trust, certs.signer_cert, moment)
            and signature_holds(signer_info, certs.signer_cert, content_type, content, moment)):
        intact = trusted = True  # the path validated before; the signature itself just now
        revoked, indic, path = False, None, None
    elif not full:
        return None
    else:
        context = ValidationContext(
            trust_roots=list(trust.roots), other_certs=list(trust.intermediates), crls=list(trust.crls),
            moment=moment, revocation_mode="require", retroactive_revinfo=True, allow_fetching=False)
        try:
            status = asyncio.run(_validate(signed, content, detached, context))
        except Exception:
            log.debug("signature failed structural validation", exc_info=True)
            return Report(refused("the signature is malformed", **known), signer)
        intact, trusted = bool(status.intact and status.valid), bool(status.trusted)
        revoked, indic, path = bool(status.revoked), status.trust_problem_indic, status.validation_path
    if not intact:
        reason: str | None = "the document was changed after signing, or the signature is damaged"
    elif carried is not None and carried != content:
        reason = "the signed document differs from the one presented"
    elif not trusted:
        reason = _TRUST_REASONS.get(indic, f"the signer's certificate failed validation ({indic})")
    elif not is_pinfl(signer.pinfl):
        reason = "the signer's certificate carries no valid PINFL"
    else:
        reason = None
    if paths is not None and path is not None and intact and trusted:
        paths.remember(trust, certs.signer_cert, path)
    verdict = Verification(valid=True, **known) if reason is None else refused(reason, **known)
    return Report(verdict, signer, intact=intact, trusted=trusted, revoked=revoked, content=carried)


def is_pinfl(value: object) -> bool:
    """Fourteen ASCII digits: the form of a PINFL (its check digit is the registry's business)."""
    return isinstance(value, str) and len(value) == 14 and value.isascii() and value.isdigit()


async def inspect(content: bytes, signature: bytes, *, detached: bool, trust: TrustStore,
                  skew: dt.timedelta = dt.timedelta(minutes=5), now: dt.datetime | None = None,
                  paths: PathCache | None = None) -> Report:
    """Verify. With ``paths``, a path validated before is taken from that cache (the signature is
    still checked), and such a verification runs here, on the event loop: it is parsing and one
    signature check, about half a millisecond, less than handing it to a worker thread costs under
    load (the thread then contends with the loop for the GIL). Path validation, CPU work of a few
    milliseconds, and any signature above :data:`QUICK_MAX_BYTES` go to a worker thread."""
    now = now or dt.datetime.now(dt.UTC)
    if paths is not None and len(paths) and len(signature) <= QUICK_MAX_BYTES:
        report = _quick(content, signature, detached=detached, trust=trust, now=now, skew=skew, paths=paths)
        if report is not None:
            return report
    return await asyncio.to_thread(_inspect, content, signature, detached=detached, trust=trust,
                                   now=now, skew=skew, paths=paths)
