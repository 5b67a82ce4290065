"""Importing the medicines register: new products, new versions of changed ones, nothing for the same.

Each registration number has one *current* version. A row equal to it (same fingerprint of every
imported field) changes nothing, so re-importing a file is a no-op; a row that differs supersedes
it (``superseded_at``) with version + 1, so history is kept and prescriptions keep pointing at the
version they named. Striking a product off is a row with ``valid_to``: it stops being prescribable
from that day. Rows are written in chunks, one transaction each, with set-based statements (one
SELECT of the chunk's current versions, then executemany inserts), which keeps 50k rows in seconds.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TextIO

import msgspec
from sqlalchemy import bindparam, select, text, update

from core.ids import new_id
from plugins.erecipe.medicines_csv import Entry, entry, rows
from plugins.erecipe.tables import medicine_gtins, medicines
from ports.storage import Storage

CHUNK = 1000
DEMO_FILE = Path(__file__).parent / "medicines_demo.csv"
_SUPERSEDE = update(medicines).where(medicines.c.id == bindparam("old")).values(
    superseded_at=bindparam("at"))


class Rejected(msgspec.Struct, frozen=True):
    line: int  # the file's line (the header is line 1)
    reason: str
    row: dict[str, str] = msgspec.field(default_factory=dict)  # as read, for the rejects file


class Report(msgspec.Struct, kw_only=True):
    rows: int = 0
    created: int = 0
    changed: int = 0  # a new version of a product already registered
    unchanged: int = 0
    rejected: list[Rejected] = msgspec.field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"medicines: {self.rows} rows, {self.created} new, {self.changed} changed (new version), "
                f"{self.unchanged} unchanged, {len(self.rejected)} rejected in {self.seconds:.1f} s")


def checked(found: list[tuple[int, dict[str, str]]], report: Report) -> list[Entry]:
    """The good rows; a reason for each bad one (and for a registration number given twice)."""
    good: list[Entry] = []
    first: dict[str, int] = {}
    for line, row in found:
        try:
            item = entry(row)
        except ValueError as exc:
            report.rejected.append(Rejected(line, str(exc), row))
            continue
        if item.registration_number in first:
            report.rejected.append(Rejected(line, f"registration_number {item.registration_number!r} is "
                                                  f"also on line {first[item.registration_number]}", row))
            continue
        first[item.registration_number] = line
        good.append(item)
    return good


def _row(item: Entry, version: int, now: datetime) -> dict[str, object]:
    fields = {f: getattr(item, f) for f in Entry.__struct_fields__ if f != "gtins"}
    return {**fields, "id": new_id(), "version": version, "fingerprint": item.fingerprint(),
            "imported_at": now, "superseded_at": None}


async def _chunk(storage: Storage, part: list[Entry], report: Report, now: datetime) -> None:
    async with storage.transaction() as tx:
        held = {r.registration_number: r for r in await tx.execute(
            select(medicines.c.id, medicines.c.registration_number, medicines.c.version,
                   medicines.c.fingerprint).where(
                medicines.c.registration_number.in_([e.registration_number for e in part]),
                medicines.c.superseded_at.is_(None)))}
        new_rows, codes, old = [], [], []
        for item in part:
            current = held.get(item.registration_number)
            if current is not None and current.fingerprint == item.fingerprint():
                report.unchanged += 1
                continue
            row = _row(item, 1 if current is None else current.version + 1, now)
            new_rows.append(row)
            codes += [{"medicine_id": row["id"], "gtin": g} for g in item.gtins]
            if current is None:
                report.created += 1
            else:
                report.changed += 1
                old.append({"old": current.id, "at": now})
        if old:
            await tx.execute(_SUPERSEDE, old)
        if new_rows:
            await tx.execute(medicines.insert(), new_rows)
        if codes:
            await tx.execute(medicine_gtins.insert(), codes)


async def import_file(storage: Storage, data: bytes, now: datetime, *, encoding: str = "utf-8-sig",
                      delimiter: str | None = None, progress: TextIO | None = sys.stderr) -> Report:
    """Raises ``medicines_csv.BadFile`` when the file cannot be read at all."""
    started = time.perf_counter()
    found = rows(data, encoding=encoding, delimiter=delimiter)
    report = Report(rows=len(found))
    good = checked(found, report)
    for start in range(0, len(good), CHUNK):
        await _chunk(storage, good[start:start + CHUNK], report, now)
        if progress is not None:
            done = min(start + CHUNK, len(good))
            progress.write(f"\rmedicines {done}/{len(good)}{chr(10) if done == len(good) else ''}")
            progress.flush()
    if report.created + report.changed > CHUNK:
        await _analyze(storage)
    report.seconds = time.perf_counter() - started
    return report


async def _analyze(storage: Storage) -> None:
    """Fresh statistics after a bulk import, on PostgreSQL: else a connection that planned the
    chunk lookup while the table was empty keeps a sequential scan for the next import (50x slower)."""
    async with storage.transaction() as tx:
        if tx.dialect == "postgresql":
            await tx.execute(text("ANALYZE erecipe_medicines, erecipe_medicine_gtins"))
