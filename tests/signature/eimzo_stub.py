"""A local stand-in for E-IMZO-SERVER's two verify endpoints, answering in the documented shape.

It verifies for real (the shared CMS path, trusting the test PKI), then reports the result the way
E-IMZO does: ``status``/``message``, and ``pkcs7Info.signers[]`` with ``verified``,
``certificateVerified``, ``certificateValidAtSigningTime``, ``signingTime`` (local time, UTC+5)
and the certificate's ``subjectInfo`` carrying the PINFL. ``force`` makes it answer a scripted
(HTTP status, body) instead, for the failure answers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from adapters.signature.cms import Report, inspect
from adapters.signature.trust import TrustStore

TASHKENT = dt.timezone(dt.timedelta(hours=5))
FORMAT = "%Y-%m-%d %H:%M:%S"


def _signer_json(report: Report) -> dict[str, Any]:
    signer, v = report.signer, report.verification
    assert signer is not None
    when = v.signing_time or dt.datetime.now(dt.UTC)
    answer: dict[str, Any] = {
        "signerId": {"issuer": signer.issuer, "subjectSerialNumber": signer.serial},
        "signingTime": when.astimezone(TASHKENT).strftime(FORMAT),
        "certificate": [{
            "subjectInfo": signer.subject, "serialNumber": signer.serial,
            "subjectName": ",".join(f"{k}={v}" for k, v in signer.subject.items()),
            "validFrom": signer.not_before.astimezone(TASHKENT).strftime(FORMAT),
            "validTo": signer.not_after.astimezone(TASHKENT).strftime(FORMAT), "issuerName": signer.issuer}],
        "verified": report.intact,
        "certificateVerified": report.trusted,
        "certificateValidAtSigningTime": signer.not_before <= when <= signer.not_after,
        "policyIdentifiers": [],
    }
    if report.revoked:
        answer["revokedStatusInfo"] = {"reason": "keyCompromise", "revocationDate": "2020-01-01 00:00:00"}
    return answer


class EimzoStub:
    def __init__(self, trust: TrustStore) -> None:
        self.trust = trust
        self.force: tuple[int, bytes] | None = None
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub.requests.append((self.path, dict(self.headers), body))
                code, payload = stub.force or stub.answer(self.path, body)
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> EimzoStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str, body: bytes) -> tuple[int, bytes]:
        detached = path == "/backend/pkcs7/verify/detached"
        if not detached and path != "/backend/pkcs7/verify/attached":
            return 404, b'{"status": -404, "message": "not found"}'
        try:
            parts = body.split(b"|") if detached else [b"", body]
            if len(parts) != 2:
                raise ValueError("expected document_b64|pkcs7_b64")
            document, pkcs7 = (base64.b64decode(p, validate=True) for p in parts)
        except (ValueError, binascii.Error):
            return 400, json.dumps({"success": False, "className": "DecoderException",
                                    "reason": "unable to decode base64 string"}).encode()
        report = asyncio.run(inspect(document, pkcs7, detached=detached, trust=self.trust))
        if report.signer is None or (report.content is None) != detached:
            return 200, json.dumps({"status": -1, "message": report.verification.reason}).encode()
        info: dict[str, Any] = {"signers": [_signer_json(report)]}
        if report.content is not None:
            info["documentBase64"] = base64.b64encode(report.content).decode()
        return 200, json.dumps({"pkcs7Info": info, "status": 1, "message": ""}).encode()
