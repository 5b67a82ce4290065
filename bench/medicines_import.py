"""The medicines register import at national size: 50k rows, on SQLite and PostgreSQL.

    .venv/bin/python bench/medicines_import.py              # 50k rows, both databases
    .venv/bin/python bench/medicines_import.py --rows 5000 --only sqlite

For each database, on a freshly migrated schema: the import (checks every row, versions, GTINs) of a
generated file (cp1251, ';' as the national register is published), the same file again (the
idempotent no-op), then a bare baseline on an empty copy of the tables: the same rows as plain
batched INSERTs of 1000 with no checks and no versioning. Prints rows/s of each.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from biip.checksums import gs1_standard_check_digit
from sqlalchemy import delete

from core.clock import utcnow
from core.ids import new_id
from host.runtime import Runtime
from host.settings import Settings
from plugins.erecipe.medicines_csv import COLUMNS, entry
from plugins.erecipe.medicines_import import import_file
from plugins.erecipe.tables import medicine_gtins, medicines

FORMS = ("tablet", "capsule", "solution for injection", "syrup")
INNS = (("Amoxicillin", "J01CA04"), ("Paracetamol", "N02BE01"), ("Ibuprofen", "M01AE01"),
        ("Metformin", "A10BA02"), ("Amlodipine", "C08CA01"), ("Omeprazole", "A02BC01"))


def gtin(n: int) -> str:
    payload = f"478{n:09d}"
    return "0" + payload + str(gs1_standard_check_digit(payload))


def generate(rows: int) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\n")
    w.writerow(COLUMNS)
    for n in range(rows):
        inn, atc = INNS[n % len(INNS)]
        w.writerow([f"DV/X {n:06d}/01/24", f"Препарат-{n}", inn, atc, FORMS[n % len(FORMS)],
                    f"{(n % 20 + 1) * 25} mg", 10 + n % 20, "Завод", gtin(n), "15.01.2024", "",
                    "1", "0", "0", "0"])
    return out.getvalue().encode("cp1251")


async def baseline(rt: Runtime, data: bytes) -> float:
    """Plain batched INSERTs of the same rows (parsed, but no lookups, versions or fingerprints)."""
    async with rt.storage.transaction() as tx:
        await tx.execute(delete(medicine_gtins))
        await tx.execute(delete(medicines))
    reader = csv.DictReader(io.StringIO(data.decode("cp1251"), newline=""), delimiter=";")
    started, now, batch, codes = time.perf_counter(), utcnow(), [], []

    async def flush() -> None:
        async with rt.storage.transaction() as tx:
            await tx.execute(medicines.insert(), batch)
            await tx.execute(medicine_gtins.insert(), codes)
        batch.clear()
        codes.clear()

    for row in reader:
        e = entry(row)
        values: dict[str, Any] = {f: getattr(e, f) for f in e.__struct_fields__ if f != "gtins"}
        values.update(id=new_id(), version=1, fingerprint="", imported_at=now, superseded_at=None)
        batch.append(values)
        codes += [{"medicine_id": values["id"], "gtin": g} for g in e.gtins]
        if len(batch) == 1000:
            await flush()
    if batch:
        await flush()
    return time.perf_counter() - started


async def one(name: str, url: str, data: bytes, rows: int) -> None:
    rt = Runtime.plan(Settings(database_url=url, modules=("medcard", "erecipe"), run_relay=False))
    await rt.open()
    try:
        await rt.migrate()
        first = await import_file(rt.storage, data, utcnow(), encoding="cp1251", progress=None)
        again = await import_file(rt.storage, data, utcnow(), encoding="cp1251", progress=None)
        bare = await baseline(rt, data)
    finally:
        await rt.storage.close()
    assert first.created == rows and again.unchanged == rows, (first.summary(), again.summary())
    print(f"{name:10} import {rows / first.seconds:9,.0f} rows/s ({first.seconds:5.1f} s)   "
          f"re-import {rows / again.seconds:9,.0f} rows/s ({again.seconds:5.1f} s)   "
          f"bare INSERTs {rows / bare:9,.0f} rows/s ({bare:5.1f} s)", flush=True)


async def main(args: argparse.Namespace) -> int:
    data = generate(args.rows)
    print(f"{args.rows} rows, {len(data) / 1e6:.1f} MB (cp1251, ';')", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        if args.only in (None, "sqlite"):
            await one("sqlite", f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}", data, args.rows)
    if args.only in (None, "postgres"):
        import asyncpg

        admin = await asyncpg.connect(args.admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{args.database}"')
        finally:
            await admin.close()
        server = args.admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        await one("postgres", f"{server}/{args.database}", data, args.rows)
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=50_000)
    p.add_argument("--only", choices=("sqlite", "postgres"))
    p.add_argument("--admin-dsn", default=os.environ.get(
        "BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--database", default="shifo_bench_medicines", help="dropped and created afresh")
    sys.exit(asyncio.run(main(p.parse_args())))
