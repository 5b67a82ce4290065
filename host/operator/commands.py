"""The operator's ``shifo`` subcommands: ``import staff|patients``, ``status``, ``review enforce``.

``import`` exits 0 when every row imported (or was already there), 4 when some rows were
rejected or (patients) conflict with a registered PINFL (the reasons are printed, and with
``--rejects`` the rows are written back with a ``reason`` column), 1 when the file cannot be read
in its ``--encoding`` with the expected header, or the clinician cannot sign in or may not register
patients at ``--facility``. The progress bar is drawn only at a terminal.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from host import audit
from host.console import opened, password, print_json, table
from host.operator import config, csv_files, imports, messaging_status, metrics, patient_imports, review
from host.settings import Settings
from ports.messaging import MessagingStatus

REJECTED = 4


def add_parsers(sub: Any) -> Any:
    """The operator's commands; returns ``shifo import``'s kinds, which modules' imports join."""
    imp = sub.add_parser("import", help="imports from CSV (staff, patients, and the modules' own)")
    what = imp.add_subparsers(dest="import_command", required=True, metavar="kind")
    staff = what.add_parser("staff", help=f"accounts with grants; columns {','.join(imports.STAFF_COLUMNS)}")
    patients = what.add_parser("patients", help="patients into the medical card, through its API; "
                               f"columns {','.join(imports.PATIENT_COLUMNS)}")
    for p in (staff, patients):
        p.add_argument("file")
        p.add_argument("--rejects", help="write the rejected rows to this CSV file: their columns plus "
                       "line and reason; fixed, it imports as is")
        p.add_argument("--encoding", default="utf-8", help="the file's encoding: utf-8 (default, a BOM is "
                       "fine) or e.g. cp1251")
        p.add_argument("--delimiter", default=",", help="the column separator: , (default) or e.g. ;")
    patients.add_argument("--login", required=True, help="a clinician of the facility registering them "
                          "(password from SHIFO_IMPORT_PASSWORD or asked)")
    patients.add_argument("--facility", required=True)
    patients.add_argument("--concurrency", type=int, default=8)
    sub.add_parser("status", help="health, adapters, outbox and event stream, consumer lag, "
                   "installations overdue and users due for review").add_argument(
        "--json", action="store_true", help="one JSON document instead of the tables")
    rv = sub.add_parser("review", help="the yearly access review").add_subparsers(
        dest="review_command", required=True, metavar="action")
    rv.add_parser("enforce", help="suspend users whose access certification lapsed (run daily)")
    return what


def _finish(report: imports.Report, table: csv_files.Table, args: argparse.Namespace) -> int:
    print(report.summary())
    refused = report.refused()
    for r in refused[:50]:
        print(f"  line {r.line}: {r.reason}")
    if len(refused) > 50:
        print(f"  ... and {len(refused) - 50} more")
    if args.rejects:
        imports.write_rejects(report, table, args.rejects)
    return REJECTED if refused else 0


@contextmanager
def _progress(label: str) -> Iterator[imports.Step | None]:
    """A progress bar on stderr at a terminal; nothing where the output is a file or a pipe."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


async def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    staff = args.import_command == "staff"
    with csv_files.opened(args.file, encoding=args.encoding, delimiter=args.delimiter) as table:
        imports.check_header(table, imports.STAFF_COLUMNS if staff else imports.PATIENT_COLUMNS)
        secret = "" if staff else password("SHIFO_IMPORT_PASSWORD", f"password of {args.login}: ")
        with _progress(args.import_command) as step:
            if staff:
                async with opened(settings) as rt:
                    report = await imports.import_staff(rt, table.rows(), progress=step)
            else:
                report = await _patients(settings, args, secret, table.rows(), step)
        return _finish(report, table, args)


async def _patients(settings: Settings, args: argparse.Namespace, secret: str, rows: imports.Rows,
                    step: imports.Step | None) -> imports.Report:
    from host.web.app import create_app

    app = create_app(settings)
    runtime = app.state.runtime
    await runtime.start()  # the app's own lifespan, run here: the client calls it in process
    try:
        async with patient_imports.asgi_client(app) as client:
            return await patient_imports.import_patients(
                client, rows, login=args.login, password=secret, facility=args.facility,
                concurrency=args.concurrency, progress=step)
    finally:
        await runtime.stop()


async def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings) as rt:
        checks = []
        for name, probe in (("database", rt.storage.ping), ("messaging", rt.messaging.ping)):
            try:
                await probe()
                checks.append((name, "ok"))
            except Exception as exc:  # report, don't crash: this is the operator's dashboard
                said = getattr(exc, "detail", None)  # a ShifoError says why (never a secret)
                checks.append((name, f"DOWN ({said or type(exc).__name__})"))
        families = await metrics.snapshot(rt)
        try:
            status: MessagingStatus | None = await messaging_status.read(rt, fresh=True)
        except Exception:  # reported as the messaging check above
            status = None
    healthy = 0 if all(s == "ok" for _, s in checks) else 1
    if args.json:
        print_json({"modules": list(rt.modules.names),
                    "adapters": {"storage": settings.storage_adapter, "messaging": rt.messaging.name,
                                 "durable": rt.messaging.durable},
                    "checks": dict(checks), "measures": {f.name: f.samples[0].value for f in families},
                    "stream": status.stream if status is not None else {},
                    "groups": [_group(g) for g in (status.groups if status is not None else [])]})
        return healthy
    print(f"modules: {', '.join(rt.modules.names)}")
    print(f"adapters: storage {settings.storage_adapter}, messaging {rt.messaging.name} "
          f"({'durable' if rt.messaging.durable else 'in-process: the relay delivers'})")
    print(table(("check", "status"), checks), end="\n\n")
    print(table(("measure", "value"), [(f.name, f"{f.samples[0].value:g}") for f in families]))
    if status is not None and status.stream:
        print("\nstream: " + ", ".join(f"{k} {v}" for k, v in status.stream.items()))
    if status is not None and status.groups:
        print("\n" + table(("consumer group", "module", "pending", "unacknowledged", "redelivered"), [
            (g.group, messaging_status.group_module(g.group), g.pending, g.ack_pending, g.redelivered)
            for g in status.groups]))
    return healthy


def _group(g: Any) -> dict[str, Any]:
    return {"group": g.group, "module": messaging_status.group_module(g.group), "pending": g.pending,
            "unacknowledged": g.ack_pending, "redelivered": g.redelivered}


async def cmd_review(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings) as rt, rt.storage.transaction() as tx:
        entry = audit.AuditEntry(action="operator.review/suspend", login="cli", role="operator")
        done = await review.enforce(tx, rt.identity, config.of(settings), entry)
    print(f"suspended {len(done)} account(s) whose certification lapsed: {', '.join(done) or '-'}")
    return 0


COMMANDS = {"import": cmd_import, "status": cmd_status, "review": cmd_review}

