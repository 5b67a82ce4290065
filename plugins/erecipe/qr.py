"""The QR code of an issued prescription: its signed content, so a pharmacy can verify it offline.

Token (text, for printing as a QR code or sharing as a message)::

    SRX1.<base64url(deflate(canonical bytes))>.<base64url(detached CMS signature, DER)>

``canonical`` is exactly what the prescriber signed (RFC 8785 JSON); deflate (zlib) halves it,
the CMS carries the signer's certificate and does not compress. base64url has no padding. A
typical one-line prescription gives a token of about 1.9 kB: a QR code of version 30-35 at error
correction level L or M (measured in docs/pharmacy.md). The verifier is :mod:`offline_verify`.
"""

from __future__ import annotations

import base64
import binascii
import io
import zlib

import segno

PREFIX = "SRX1"
TooLarge = segno.DataOverflowError  # more than a version 40 QR code holds
MEDIA = {"svg": "image/svg+xml", "png": "image/png"}
_MAX_INFLATED = 64 * 1024  # a prescription's canonical bytes are a few kB; refuse a deflate bomb


class BadToken(ValueError):
    """Not a prescription token: the message says what is wrong, for the pharmacist."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str, part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadToken(f"the {part} part is not base64url") from None


def encode(canonical: bytes, signature: bytes) -> str:
    return ".".join((PREFIX, _b64(zlib.compress(canonical, 9)), _b64(signature)))


def decode(token: str) -> tuple[bytes, bytes]:
    """The canonical bytes and the CMS signature a token carries; :class:`BadToken` otherwise."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise BadToken(f"not a prescription token: expected {PREFIX}.<content>.<signature>")
    inflater = zlib.decompressobj()
    try:
        canonical = inflater.decompress(_unb64(parts[1], "content"), _MAX_INFLATED)
    except zlib.error:
        raise BadToken("the content part is damaged (not deflate data)") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise BadToken("the content part is damaged or too large")
    return canonical, _unb64(parts[2], "signature")


def image(token: str, kind: str) -> bytes:
    """The QR code as SVG or PNG; error correction M, or L when M does not fit (segno picks the
    smallest version and raises ``DataOverflowError`` when even version 40 at L is too small)."""
    try:
        code = segno.make_qr(token, error="m", boost_error=False)
    except TooLarge:
        code = segno.make_qr(token, error="l", boost_error=False)
    out = io.BytesIO()
    code.save(out, kind=kind, scale=4, border=4)
    return out.getvalue()
