"""The modules' demo data (hook ``shifo_demo_data``), recorded through their HTTP API as clinicians would.

The host never imports a module, so ``shifo demo`` builds an in-process app (relay off: ``shifo
serve`` delivers the events later), signs the demo staff in as they need it, and runs the steps of
every enabled module in their ``order`` with one shared :class:`Clinic`: the same path a
clinician's request takes (guard, validation, the module's service, the outbox). A refusal ends
the demo data and is reported, never raised.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import msgspec

from host.demo import ACCOUNTS, PATIENT, Report
from host.pluginapi import DemoRefused, DemoStep
from host.settings import Settings
from host.web.app import create_app


class DemoResult(msgspec.Struct, kw_only=True):
    done: list[str] = msgspec.field(default_factory=list)
    skipped: list[str] = msgspec.field(default_factory=list)  # steps without a module they need
    stopped: str = ""

    def summary(self) -> str:
        parts = [*self.done, *self.skipped]
        if self.stopped:
            parts.append(f"stopped: {self.stopped}")
        return f"Demo data of patient {PATIENT['pinfl']}: {'; '.join(parts) or 'none'}."


class Clinic:
    """The :class:`host.pluginapi.DemoClinic` of a seed: demo staff calling the in-process app."""

    def __init__(self, app: Any, report: Report) -> None:
        self.app = app
        self.patient = dict(PATIENT)
        self.state: dict[str, Any] = {}
        self.stopped = ""
        self._passwords = {s.account.login: s.password for s in report.accounts}
        self._facility = {a.login: a.facility for a in ACCOUNTS}
        self._headers: dict[str, dict[str, str]] = {}

    async def request(self, method: str, path: str, body: Any, who: str | None) -> tuple[int, Any]:
        headers = await self._signed_in(who) if who else None
        return await call(self.app, method, path, body, headers)

    async def call(self, method: str, path: str, body: Any, who: str | None, expect: int = 201) -> Any:
        status, got = await self.request(method, path, body, who)
        if status != expect:
            detail = got.get("detail") if isinstance(got, dict) else got
            raise DemoRefused(f"{method} {path.split('?')[0]} as {who or 'anyone'}: {status} {detail}")
        return got

    async def drain(self) -> None:
        await self.app.state.runtime.relay.drain()

    def stop(self, reason: str) -> None:
        self.stopped = self.stopped or reason

    async def _signed_in(self, login: str) -> dict[str, str]:
        if login not in self._headers:
            if not self._passwords.get(login):
                raise DemoRefused(f"the demo {login}'s password is unknown")
            status, body = await call(self.app, "POST", "/api/v1/auth/login",
                                      {"login": login, "password": self._passwords[login]})
            if status != 200:
                raise DemoRefused(f"the demo {login} cannot sign in ({status})")
            facility = self._facility.get(login)
            self._headers[login] = {"authorization": f"Bearer {body['access_token']}",
                                    **({"x-facility": facility} if facility else {})}
        return self._headers[login]


async def seed(settings: Settings, report: Report) -> DemoResult:
    """Run every enabled module's demo steps, in order, on an in-process app."""
    app = create_app(settings.with_(run_relay=False))
    modules = app.state.runtime.modules
    steps: list[tuple[DemoStep, str]] = sorted(
        ((step, info.name) for info, data in modules.demo_data() for step in data.steps),
        key=lambda found: found[0].order)
    logging.getLogger("casbin").setLevel(logging.WARNING)  # not a line per allowed request here
    result = DemoResult()
    async with app.lifespan():
        clinic = Clinic(app, report)
        for step, module in steps:
            missing = [m for m in step.needs if m not in modules.names]
            if missing:
                said = f"{module}'s steps skipped (they need the {', '.join(missing)} module)"
                result.skipped += [said] if said not in result.skipped else []
                continue
            try:
                done = await step.run(clinic)
            except DemoRefused as refusal:
                result.stopped = str(refusal)
                break
            except (KeyError, TypeError, IndexError, ValueError) as exc:  # an answer of an unexpected shape
                result.stopped = f"unexpected answer in a {module} step: {type(exc).__name__}: {exc}"
                break
            if done:
                result.done.append(done)
            if clinic.stopped:
                result.stopped = clinic.stopped
                break
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
