"""Onboarding imports from CSV: staff (accounts with qualified grants) and patients.

Both read the whole file, reject bad rows with a reason each and import the rest; re-running the
same file changes nothing (existing accounts, grants and patients are recognised and left alone).

Staff go through the identity port, in chunks of :data:`CHUNK` rows per transaction, each row
checked before anything is written so one bad row cannot spoil its chunk; a chunk that loses to a
concurrent import of the same logins is re-run whole (then 409). Patients belong to the
medical card, which the host must not import: they are registered through medcard's own HTTP API,
in process, signed in as a clinician of the facility (so every registration is validated, audited
and published exactly as one made at the desk).
"""

from __future__ import annotations

import asyncio
import csv
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, TextIO

import httpx
import msgspec
from sqlalchemy import select

from core import pinfl as pinfl_rules
from core.errors import Conflict, ShifoError, ValidationFailed
from core.principals import CLINICAL_ROLES, NON_CLINICAL_ROLES
from host import audit
from host.runtime import Runtime
from host.tables import facilities
from ports.conflicts import run_unit

CHUNK = 250
PATIENTS = "/api/v1/medcard/patients"
STAFF_COLUMNS = ("login", "full_name", "pinfl", "facility", "role", "qualification_number",
                 "qualification_issuer", "qualification_date", "education")
PATIENT_COLUMNS = ("pinfl", "surname", "given_name", "patronymic", "birth_date", "sex")


class Rejected(msgspec.Struct, frozen=True):
    line: int  # the file's line number (the header is line 1)
    reason: str


class Report(msgspec.Struct, kw_only=True):
    kind: str
    rows: int = 0
    created: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = msgspec.field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.kind}: {self.rows} rows, {self.created} imported, {self.unchanged} already "
                f"present, {len(self.rejected)} rejected in {self.seconds:.1f} s")


class Progress:
    """A one-line progress bar on stderr, redrawn at most every 0.2 s."""

    def __init__(self, label: str, total: int, out: TextIO | None = None) -> None:
        self.label, self.total, self.out, self.done, self.shown = label, max(total, 1), out, 0, 0.0

    def step(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.out is not None and (now - self.shown > 0.2 or self.done >= self.total):
            self.shown = now
            filled = int(30 * self.done / self.total)
            self.out.write(f"\r{self.label} [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            if self.done >= self.total:
                self.out.write("\n")
            self.out.flush()


def read_csv(stream: Iterable[str], columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(stream)
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing and not (columns == PATIENT_COLUMNS and missing == ["patronymic"]):
        raise ValidationFailed(f"the CSV header lacks {', '.join(missing)}; expected {','.join(columns)}")
    return [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader]


def _reason(exc: Exception) -> str:
    errors = getattr(exc, "errors", None) or []
    fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, Mapping))
    return fields or str(exc)


def _check_staff(row: dict[str, str], known: set[str]) -> str | None:
    """Why this row cannot be imported, or None."""
    for field in ("login", "full_name", "pinfl", "facility", "role"):
        if not row.get(field):
            return f"{field} is empty"
    try:
        pinfl_rules.parse(row["pinfl"])
    except ValidationFailed as exc:
        return _reason(exc)
    if row["facility"] not in known:
        return f"unknown facility {row['facility']!r}"
    if row["role"] not in CLINICAL_ROLES | NON_CLINICAL_ROLES:
        return f"unknown role {row['role']!r}"
    if row["role"] in CLINICAL_ROLES:
        missing = [f for f in STAFF_COLUMNS[5:8] if not row.get(f)]
        if missing:
            return f"a {row['role']} needs the qualification: {', '.join(missing)} missing"
        if row["role"] == "pharmacist" and not row.get("education"):
            return "a pharmacist needs the pharmaceutical education"
    if row.get("qualification_date"):
        try:
            date.fromisoformat(row["qualification_date"])
        except ValueError:
            return "qualification_date is not a date (YYYY-MM-DD)"
    return None


async def import_staff(rt: Runtime, rows: list[tuple[int, dict[str, str]]], *, by: str = "cli",
                       progress: TextIO | None = sys.stderr) -> Report:
    started, report = time.perf_counter(), Report(kind="staff", rows=len(rows))
    bar = Progress("staff", len(rows), progress)
    identity = rt.identity
    async with rt.storage.transaction(readonly=True) as tx:
        known = set((await tx.execute(select(facilities.c.id))).scalars())
        accounts = {a.login: a for a in await identity.accounts(tx=tx)}
    for start in range(0, len(rows), CHUNK):
        part, tries = rows[start:start + CHUNK], [0]

        async def chunk(tx: Any, part: list[tuple[int, dict[str, str]]] = part, tries: list[int] = tries
                        ) -> list[tuple[int, str | None, bool]]:
            """One chunk, re-run whole (with the accounts read again) when a concurrent import or
            change committed the same login or grant first; the report is filled after it commits."""
            if tries[0]:
                accounts.clear()
                accounts.update({a.login: a for a in await identity.accounts(tx=tx)})
            tries[0] += 1
            done: list[tuple[int, str | None, bool]] = []
            for line, row in part:
                why, made = _check_staff(row, known), False
                if why is None:
                    try:
                        made = await _one_staff(tx, identity, row, accounts, by)
                    except ShifoError as exc:
                        why = _reason(exc)
                done.append((line, why, made))
            return done

        for line, why, made in await run_unit(rt.storage, chunk):
            if why is not None:
                report.rejected.append(Rejected(line, why))
            else:
                report.created += made
                report.unchanged += not made
            bar.step()
    report.seconds = time.perf_counter() - started
    return report


async def _one_staff(tx: Any, identity: Any, row: dict[str, str], accounts: dict[str, Any],
                     by: str) -> bool:
    account = accounts.get(row["login"])
    if account is not None and account.pinfl != row["pinfl"]:
        raise ValidationFailed(f"login {row['login']!r} belongs to another person (PINFL differs)")
    created = account is None
    if account is None:
        try:
            uid = await identity.create_account(login=row["login"], password=None, kind="staff",
                                                full_name=row["full_name"], pinfl=row["pinfl"], tx=tx)
        except Conflict:  # a concurrent import committed the login since the accounts were read
            accounts.update({a.login: a for a in await identity.accounts(tx=tx)})
            if row["login"] not in accounts:
                raise
            return await _one_staff(tx, identity, row, accounts, by)
        account = accounts[row["login"]] = await identity.account(uid, tx=tx)
    else:
        held = [g for g in await identity.grants(account.id, tx=tx)
                if g.revoked_at is None and g.facility == row["facility"] and g.role == row["role"]]
        if held:
            return False
    await identity.grant(account.id, row["facility"], row["role"],
                         qualification_number=row.get("qualification_number", ""),
                         qualification_issuer=row.get("qualification_issuer", ""),
                         qualification_date=date.fromisoformat(row["qualification_date"])
                         if row.get("qualification_date") else None,
                         education=row.get("education") or None, tx=tx)
    await audit.record(tx, audit.AuditEntry(
        action="operator.import/staff", login=by, role="operator", facility=row["facility"],
        object=row["login"],
        detail=("new account, " if created else "") + f"{row['role']}@{row['facility']}"))
    return True


def _patient_body(row: dict[str, str]) -> dict[str, Any]:
    body = {k: row.get(k) or None for k in PATIENT_COLUMNS}
    born = date.fromisoformat(row["birth_date"]) if row.get("birth_date") else None
    pinfl_rules.validate(row.get("pinfl", ""), born, row.get("sex") or None)
    return body


async def import_patients(client: httpx.AsyncClient, rows: list[tuple[int, dict[str, str]]], *, login: str,
                          password: str, facility: str, concurrency: int = 8,
                          progress: TextIO | None = sys.stderr) -> Report:
    """Register each row through ``POST /api/v1/medcard/patients`` with ``client`` (bound to a
    started app, see :func:`asgi_client`), signed in as ``login`` acting for ``facility``.
    A 409 (PINFL already registered) counts as present."""
    started, report = time.perf_counter(), Report(kind="patients", rows=len(rows))
    bar = Progress("patients", len(rows), progress)
    headers = {"X-Facility": facility}

    async def sign_in() -> None:
        r = await client.post("/api/v1/auth/login", json={"login": login, "password": password})
        if r.status_code != 200:
            raise ValidationFailed(f"cannot sign in as {login!r}: {r.status_code} {r.text[:200]}")
        headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    await sign_in()
    queue: asyncio.Queue[tuple[int, dict[str, str]]] = asyncio.Queue()
    for item in rows:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            line, row = queue.get_nowait()
            try:
                body = _patient_body(row)
                r = await client.post(PATIENTS, json=body, headers=headers)
                if r.status_code == 401:  # the token expired during a long import
                    await sign_in()
                    r = await client.post(PATIENTS, json=body, headers=headers)
                if r.status_code == 201:
                    report.created += 1
                elif r.status_code == 409:
                    report.unchanged += 1
                else:
                    problem = r.json() if r.headers.get("content-type", "").endswith("json") else {}
                    report.rejected.append(Rejected(line, _problem_reason(r.status_code, problem, r.text)))
            except (ValidationFailed, ValueError) as exc:
                report.rejected.append(Rejected(line, _reason(exc)))
            bar.step()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    report.rejected.sort(key=lambda r: r.line)
    report.seconds = time.perf_counter() - started
    return report


def _problem_reason(status: int, problem: dict[str, Any], text: str) -> str:
    errors = problem.get("errors") or []
    detail = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict))
    return f"{status}: {detail or problem.get('detail') or text[:200]}"


def asgi_client(app: Any) -> httpx.AsyncClient:
    """A client that calls ``app`` in process (its lifespan is the caller's to run)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://import.local")


def write_rejects(report: Report, out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(("line", "reason"))
    writer.writerows((r.line, r.reason) for r in report.rejected)
