"""Entry point ``signature.eimzo``: the national EDS, verified by a licensed E-IMZO-SERVER.

``POST /backend/pkcs7/verify/attached`` (body: base64 PKCS#7) or ``.../detached`` (body:
``document_b64|pkcs7_b64``). A signature is valid only when the single signer's ``verified``,
``certificateVerified`` and ``certificateValidAtSigningTime`` are all true and no revocation or
exception is reported. A failure-shaped answer (``status`` != 1 or ``success`` false) is a
refusal; no answer, or one that is not that JSON shape, raises :class:`SignatureUnavailable`.

Settings: ``eimzo_url`` (base URL, required), ``eimzo_timeout_seconds`` (10), ``eimzo_host`` (the
``Host`` header E-IMZO expects: the site's domain), ``eimzo_real_ip`` (``X-Real-IP``),
``eimzo_utc_offset_hours`` (5: ``signingTime`` is the signer's local Tashkent time, without zone)
and ``signature_clock_skew_seconds`` (300).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Any

import httpx

from adapters.signature import setting
from adapters.signature.cms import is_pinfl
from core.errors import ConfigurationError
from ports.signature import PINFL_OID, SignatureUnavailable, Verification, expect_signer, refused


class EimzoSignature:
    def __init__(self, base_url: str, *, timeout: float = 10.0, host: str | None = None,
                 real_ip: str = "127.0.0.1", utc_offset: dt.timedelta = dt.timedelta(hours=5),
                 clock_skew: dt.timedelta = dt.timedelta(minutes=5)) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = {"X-Real-IP": real_ip, "Content-Type": "text/plain"} | ({"Host": host} if host else {})
        self.zone = dt.timezone(utc_offset)
        self.clock_skew = clock_skew
        self._client: httpx.AsyncClient | None = None  # made on first use, inside the serving loop

    async def verify(self, content: bytes, signature: bytes, *, detached: bool = True,
                     signer_pinfl: str | None = None) -> Verification:
        if not signature:
            return refused("the signature is empty")
        pkcs7 = base64.b64encode(signature).decode()
        if detached:
            path, body = "/backend/pkcs7/verify/detached", f"{base64.b64encode(content).decode()}|{pkcs7}"
        else:
            path, body = "/backend/pkcs7/verify/attached", pkcs7
        answer = await self._post(path, body)
        return expect_signer(self._judge(answer, content, detached), signer_pinfl)

    async def _post(self, path: str, body: str) -> dict[str, Any]:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout)
        try:
            response = await self._client.post(path, content=body.encode(), headers=self.headers)
        except httpx.HTTPError as exc:
            raise SignatureUnavailable(f"E-IMZO-SERVER did not answer: {type(exc).__name__}") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not ({"status", "success", "pkcs7Info"} & answer.keys()):
            raise SignatureUnavailable(
                f"E-IMZO-SERVER answered HTTP {response.status_code} without a verdict")
        return answer

    def _judge(self, answer: dict[str, Any], content: bytes, detached: bool) -> Verification:
        if answer.get("success") is False or answer.get("status", 1) != 1:
            said = answer.get("message") or answer.get("reason") or "no reason given"
            return refused(f"E-IMZO-SERVER refused the signature: {said}")
        info = answer.get("pkcs7Info")
        if not isinstance(info, dict) or not isinstance(signers := info.get("signers"), list):
            raise SignatureUnavailable("E-IMZO-SERVER answered without pkcs7Info.signers")
        if len(signers) != 1 or not isinstance(signers[0], dict):
            return refused("the signature must carry exactly one signer")
        signer = signers[0]
        known = self._signer(signer)
        if signer.get("verified") is not True:
            return refused("the document was changed after signing, or the signature is damaged", **known)
        if signer.get("revokedStatusInfo"):
            return refused("the signer's certificate is revoked or suspended", **known)
        if signer.get("certificateValidAtSigningTime") is not True:
            return refused("the signer's certificate was not valid at the signing time", **known)
        if signer.get("certificateVerified") is not True:
            return refused("the signer's certificate chain is not trusted", **known)
        if signer.get("exception"):
            return refused(f"E-IMZO-SERVER reported: {signer['exception']}", **known)
        if not detached and self._document(info) != content:
            return refused("the signed document differs from the one presented", **known)
        when = known["signing_time"]
        if when is not None and when > dt.datetime.now(dt.UTC) + self.clock_skew:
            return refused("the signing time lies in the future; check the signing computer's clock", **known)
        if not is_pinfl(known["signer_pinfl"]):
            return refused("the signer's certificate carries no valid PINFL", **known)
        return Verification(valid=True, **known)

    def _signer(self, signer: dict[str, Any]) -> dict[str, Any]:
        certs = signer.get("certificate")
        cert = certs[0] if isinstance(certs, list) and certs and isinstance(certs[0], dict) else {}
        subject = cert.get("subjectInfo")
        subject = subject if isinstance(subject, dict) else {}
        serial = cert.get("serialNumber")
        return {"signer_pinfl": _text(subject.get(PINFL_OID)), "signer_name": _text(subject.get("CN")),
                "certificate_serial": serial.lower() if isinstance(serial, str) else None,
                "signing_time": self._time(signer.get("signingTime"))}

    def _time(self, value: Any) -> dt.datetime | None:
        try:
            return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=self.zone)
        except (TypeError, ValueError):
            return None

    @staticmethod
    def _document(info: dict[str, Any]) -> bytes | None:
        try:
            return base64.b64decode(info.get("documentBase64") or "", validate=True)
        except (binascii.Error, ValueError):
            return None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def create(settings: Any) -> EimzoSignature:
    url = setting(settings, "eimzo_url", None)
    if not url:
        raise ConfigurationError("the eimzo signature adapter needs eimzo_url: the E-IMZO-SERVER base URL")
    return EimzoSignature(
        str(url), timeout=float(setting(settings, "eimzo_timeout_seconds", 10)),
        host=setting(settings, "eimzo_host", None),
        real_ip=str(setting(settings, "eimzo_real_ip", "127.0.0.1")),
        utc_offset=dt.timedelta(hours=float(setting(settings, "eimzo_utc_offset_hours", 5))),
        clock_skew=dt.timedelta(seconds=float(setting(settings, "signature_clock_skew_seconds", 300))))
