"""Importing patients: each row registered through the medical card's own HTTP API, in process,
signed in as a clinician of the facility, so every registration is validated, audited and published
exactly as one made at the desk (the host must not import the medcard module).

Before the first row is read, the route itself is asked whether that clinician may register
patients at that facility: a wrong facility, a missing role or a module not installed there is one
clear refusal, not thousands of per-row 403s. A PINFL already registered counts as present when the
names and birth date agree, and as a conflict (for the clerk to resolve) when they do not.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Any

import httpx

from core import pinfl as pinfl_rules
from core.errors import Forbidden, Unavailable, ValidationFailed
from host.operator.imports import PATIENT_COLUMNS, Rejected, Report, Rows, Step, reason_of

PATIENTS = "/api/v1/medcard/patients"
AGREE = ("surname", "given_name", "patronymic", "birth_date")  # what a known PINFL's row must agree on


class Desk:
    """A clinician signed in at one facility through ``client``; signs in again when the token
    expires during a long import."""

    def __init__(self, client: httpx.AsyncClient, login: str, password: str, facility: str) -> None:
        self.client, self.login, self.password, self.facility = client, login, password, facility
        self.headers = {"X-Facility": facility}

    async def sign_in(self) -> None:
        credentials = {"login": self.login, "password": self.password}
        r = await self.client.post("/api/v1/auth/login", json=credentials)
        if r.status_code != 200:
            raise ValidationFailed(f"cannot sign in as {self.login!r}: {r.status_code} {r.text[:200]}")
        self.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    async def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        r = await self.client.request(method, url, headers=self.headers, **kwargs)
        if r.status_code == 401:
            await self.sign_in()
            r = await self.client.request(method, url, headers=self.headers, **kwargs)
        return r

    async def may_register(self) -> None:
        """Ask the registration route with an empty body: its guard answers 403 when this clinician
        may not register patients here; else validation refuses the body (400/422). Nothing is
        written either way, and the guard's own decision is the one every row would meet."""
        r = await self.send("POST", PATIENTS, json={})
        if r.status_code in (400, 422):
            return
        said = _problem_reason(r)
        if r.status_code in (401, 403, 404):
            raise Forbidden(f"{self.login} may not register patients at {self.facility}: {said}")
        if r.status_code >= 500:
            raise Unavailable(f"cannot import patients now: {said}")
        raise ValidationFailed(f"cannot check that {self.login} may register patients at {self.facility}: "
                               f"{said}")


async def import_patients(client: httpx.AsyncClient, rows: Rows, *, login: str, password: str, facility: str,
                          concurrency: int = 8, progress: Step | None = None) -> Report:
    """Register each row through ``POST /api/v1/medcard/patients`` with ``client`` (bound to a
    started app, see :func:`asgi_client`), signed in as ``login`` acting for ``facility``. ``rows``
    is iterated only once the clinician may register there (else :class:`Forbidden`)."""
    desk = Desk(client, login, password, facility)
    await desk.sign_in()
    await desk.may_register()
    items = list(rows)
    started, report = time.perf_counter(), Report(kind="patients", rows=len(items))
    queue: asyncio.Queue[tuple[int, dict[str, str]]] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    done = [0]

    async def worker() -> None:
        while not queue.empty():
            line, row = queue.get_nowait()
            try:
                r = await desk.send("POST", PATIENTS, json=_patient_body(row))
                if r.status_code == 201:
                    report.created += 1
                elif r.status_code == 409:
                    differs = await _differs(desk, row)
                    if differs:
                        report.conflicts.append(Rejected(line, differs, row))
                    else:
                        report.unchanged += 1
                else:
                    report.rejected.append(Rejected(line, _problem_reason(r), row))
            except (ValidationFailed, ValueError) as exc:
                report.rejected.append(Rejected(line, reason_of(exc), row))
            done[0] += 1
            if progress is not None:
                progress(done[0], len(items))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    report.rejected.sort(key=lambda r: r.line)
    report.conflicts.sort(key=lambda r: r.line)
    report.seconds = time.perf_counter() - started
    return report


def _patient_body(row: dict[str, str]) -> dict[str, Any]:
    body = {k: row.get(k) or None for k in PATIENT_COLUMNS}
    born = date.fromisoformat(row["birth_date"]) if row.get("birth_date") else None
    pinfl_rules.validate(row.get("pinfl", ""), born, row.get("sex") or None)
    return body


async def _differs(desk: Desk, row: dict[str, str]) -> str | None:
    """Why the registered patient with this row's PINFL is not the row's person (which details
    differ, not their registered values), or None when they agree."""
    r = await desk.send("GET", PATIENTS, params={"pinfl": row["pinfl"]})
    if r.status_code != 200:
        return f"conflict: the PINFL is registered; cannot compare the details: {_problem_reason(r)}"
    known = (r.json() or [{}])[0]
    differ = [f for f in AGREE if row.get(f) and _same(row[f]) != _same(str(known.get(f) or ""))]
    return f"conflict: the PINFL is registered with another {', '.join(differ)}" if differ else None


def _same(value: str) -> str:
    return " ".join(value.split()).casefold()


def _problem_reason(r: httpx.Response) -> str:
    problem = r.json() if r.headers.get("content-type", "").endswith("json") else {}
    problem = problem if isinstance(problem, dict) else {}
    errors = problem.get("errors") or []
    detail = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict))
    return f"{r.status_code}: {detail or problem.get('detail') or r.text[:200]}"


def asgi_client(app: Any) -> httpx.AsyncClient:
    """A client that calls ``app`` in process (its lifespan is the caller's to run)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://import.local")
