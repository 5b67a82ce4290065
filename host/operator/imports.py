"""Onboarding imports from CSV: staff (accounts with qualified grants) and patients.

Both reject bad rows with a reason each and import the rest; re-running the same file changes
nothing (existing accounts, grants and patients are recognised and left alone). The rows come from
:mod:`host.operator.csv_files`; each rejected row keeps its values, so the rejects file
(:func:`write_rejects`) is the original columns plus ``line`` and ``reason``: fixed, it is
imported again as is.

Staff go through the identity port, in chunks of :data:`CHUNK` rows per transaction, each row
checked before anything is written so one bad row cannot spoil its chunk; a chunk that loses to a
concurrent import of the same logins is re-run whole (then 409). Patients go through the medical
card's own HTTP API (:mod:`host.operator.patient_imports`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

import msgspec
from sqlalchemy import select

from core import pinfl as pinfl_rules
from core.errors import Conflict, ShifoError, ValidationFailed
from core.principals import CLINICAL_ROLES, NON_CLINICAL_ROLES
from host import audit
from host.operator import csv_files
from host.runtime import Runtime
from host.tables import facilities
from ports.conflicts import run_unit

CHUNK = 250
STAFF_COLUMNS = ("login", "full_name", "pinfl", "facility", "role", "qualification_number",
                 "qualification_issuer", "qualification_date", "education")
PATIENT_COLUMNS = ("pinfl", "surname", "given_name", "patronymic", "birth_date", "sex")

Rows = Iterable[tuple[int, dict[str, str]]]  # (line number, values by column): csv_files.Table.rows()
Step = Callable[[int, int], None]  # progress: (rows done, rows in all)


class Rejected(msgspec.Struct, frozen=True):
    line: int  # the file's line number (the header is line 1)
    reason: str
    row: dict[str, str] = msgspec.field(default_factory=dict)  # its values, for the rejects file


class Report(msgspec.Struct, kw_only=True):
    kind: str
    rows: int = 0
    created: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = msgspec.field(default_factory=list)
    conflicts: list[Rejected] = msgspec.field(default_factory=list)  # a known PINFL, other details
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.kind}: {self.rows} rows, {self.created} imported, {self.unchanged} already "
                f"present, {len(self.rejected)} rejected, {len(self.conflicts)} in conflict "
                f"in {self.seconds:.1f} s")

    def refused(self) -> list[Rejected]:
        """The rejected and conflicting rows, in file order: what the clerk must look at."""
        return sorted([*self.rejected, *self.conflicts], key=lambda r: r.line)


def check_header(table: csv_files.Table, columns: tuple[str, ...]) -> None:
    """The header must name ``columns`` (a patient's patronymic may be left out)."""
    table.require(columns, optional=("patronymic",) if columns == PATIENT_COLUMNS else ())


def reason_of(exc: Exception) -> str:
    """A refusal in one line: the fields and their messages where it names them."""
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
        return reason_of(exc)
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


async def import_staff(rt: Runtime, given: Rows, *, by: str = "cli", progress: Step | None = None) -> Report:
    rows = list(given)
    started, report = time.perf_counter(), Report(kind="staff", rows=len(rows))
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
                        why = reason_of(exc)
                done.append((line, why, made))
            return done

        for (line, why, made), (_, row) in zip(await run_unit(rt.storage, chunk), part, strict=True):
            if why is not None:
                report.rejected.append(Rejected(line, why, row))
            else:
                report.created += made
                report.unchanged += not made
        if progress is not None:
            progress(start + len(part), len(rows))
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


def write_rejects(report: Report, table: csv_files.Table, path: str) -> None:
    """The rejected and conflicting rows as they were read (the file's columns), then ``line``
    and ``reason``; in the file's own encoding and delimiter, so that once fixed it imports as is."""
    columns = [c for c in table.header if c and c not in ("line", "reason")]
    csv_files.write(path, [*columns, "line", "reason"],
                    ([*(r.row.get(c, "") for c in columns), r.line, r.reason] for r in report.refused()),
                    encoding=table.encoding, delimiter=table.delimiter)
