"""Demo patients, registered through the medical card's own HTTP API.

The host never imports a module, so the seed signs in as the demo doctor and calls
``POST /api/v1/medcard/patients`` on an in-process app, the same path a clinician's request takes
(guard, validation, the module's service, the outbox). Idempotent: a PINFL already registered
answers 409 and counts as present. The relay is off here; ``shifo serve`` delivers the events.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import msgspec

from host.demo import PATIENT_PINFL, Report, pinfl
from host.settings import Settings

FACILITY = "poly-01"
PATIENTS: tuple[dict[str, Any], ...] = (
    {"pinfl": PATIENT_PINFL, "surname": "Yusupov", "given_name": "Bekzod", "patronymic": "Olimovich",
     "birth_date": "1985-03-15", "sex": "male"},
    {"pinfl": pinfl("4210792014023"), "surname": "Saidova", "given_name": "Nodira",
     "patronymic": "Baxtiyorovna", "birth_date": "1992-07-21", "sex": "female"},
    {"pinfl": pinfl("4090178027031"), "surname": "G\u02bbafurova", "given_name": "Shahnoza",
     "patronymic": "Anvarovna", "birth_date": "1978-01-09", "sex": "female"},
    {"pinfl": pinfl("5021110011047"), "surname": "Ergashev", "given_name": "Timur", "patronymic": None,
     "birth_date": "2010-11-02", "sex": "male"},
)


class PatientsResult(msgspec.Struct, kw_only=True):
    registered: list[str] = msgspec.field(default_factory=list)
    present: list[str] = msgspec.field(default_factory=list)
    skipped: str = ""  # why no patient was seeded
    errors: list[str] = msgspec.field(default_factory=list)
    history: str = ""  # the demo patient's clinical history (host.demo_history), one line

    def summary(self) -> str:
        if self.skipped:
            return f"Patients: none seeded ({self.skipped})."
        parts = [f"{len(self.registered)} registered", f"{len(self.present)} already there",
                 *self.errors]
        line = f"Patients ({FACILITY}, through the medcard API): {'; '.join(parts)}."
        return f"{line}\n{self.history}" if self.history else line


async def seed(settings: Settings, report: Report) -> PatientsResult:
    from host import demo_history
    from host.web.app import create_app

    if "medcard" not in settings.modules:
        return PatientsResult(skipped="the medcard module is not enabled")
    doctor = next(s for s in report.accounts if s.account.login == "doctor")
    if doctor.password is None:
        return PatientsResult(skipped="the demo doctor's password is unknown")
    app = create_app(settings.with_(run_relay=False))
    logging.getLogger("casbin").setLevel(logging.WARNING)  # not a line per allowed request here
    result = PatientsResult()
    async with app.lifespan():
        status, body = await call(app, "POST", "/api/v1/auth/login",
                                  {"login": "doctor", "password": doctor.password})
        if status != 200:
            return PatientsResult(skipped=f"the demo doctor cannot sign in ({status})")
        headers = {"authorization": f"Bearer {body['access_token']}", "x-facility": FACILITY}
        for patient in PATIENTS:
            status, body = await call(app, "POST", "/api/v1/medcard/patients", patient, headers)
            if status in (200, 201):
                result.registered.append(patient["pinfl"])
            elif status == 409:
                result.present.append(patient["pinfl"])
            else:
                detail = body.get("detail") if isinstance(body, dict) else body
                result.errors.append(f"{patient['pinfl']} refused ({status}: {detail})")
        result.history = (await demo_history.seed(app, report)).summary()
    return result


async def call(app: Any, method: str, path: str, body: Any = None,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One HTTP request to an ASGI app in this process; returns (status, decoded JSON body).
    ``path`` may carry a query string (already URL-encoded)."""
    raw = json.dumps(body).encode() if body is not None else b""
    path, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"localhost"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(raw)).encode()),
                    *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items())],
        "client": ("127.0.0.1", 0), "server": ("localhost", 80),
    }
    messages = [{"type": "http.request", "body": raw, "more_body": False}]
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    data = b"".join(chunks)
    return status, json.loads(data) if data else None
