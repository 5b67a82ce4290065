"""The operator's ``shifo`` subcommands: ``import staff|patients``, ``status``, ``review enforce``.

``import`` exits 0 when every row imported (or was already there), 4 when some rows were
rejected (the reasons are printed, and written as CSV with ``--rejects``), 1 when the file cannot
be read as UTF-8 CSV with the expected header or the clinician cannot sign in.
"""

from __future__ import annotations

import argparse
import io
from typing import Any

from core.errors import ValidationFailed
from host import audit
from host.console import opened, password, print_json, table
from host.operator import config, imports, messaging_status, metrics, review
from host.settings import Settings
from ports.messaging import MessagingStatus

REJECTED = 4


def add_parsers(sub: Any) -> None:
    imp = sub.add_parser("import", help="onboarding imports from CSV (staff, patients)")
    what = imp.add_subparsers(dest="import_command", required=True, metavar="kind")
    staff = what.add_parser("staff", help=f"accounts with grants; columns {','.join(imports.STAFF_COLUMNS)}")
    patients = what.add_parser("patients", help="patients into the medical card, through its API; "
                               f"columns {','.join(imports.PATIENT_COLUMNS)}")
    for p in (staff, patients):
        p.add_argument("file")
        p.add_argument("--rejects", help="write the rejected rows (line, reason) to this CSV file")
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


def _finish(report: imports.Report, args: argparse.Namespace) -> int:
    print(report.summary())
    for r in report.rejected[:50]:
        print(f"  line {r.line}: {r.reason}")
    if len(report.rejected) > 50:
        print(f"  ... and {len(report.rejected) - 50} more")
    if args.rejects:
        with open(args.rejects, "w", encoding="utf-8", newline="") as out:
            imports.write_rejects(report, out)
    return REJECTED if report.rejected else 0


def _read(path: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """The file's rows; a file that is not UTF-8 is refused naming the line and byte where it stops
    being UTF-8 (a spreadsheet saved as "CSV" in a legacy code page, typically)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValidationFailed(f"{path}: not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, "
                               f"offset {exc.start} is not UTF-8; save the file as CSV UTF-8") from exc
    try:
        return imports.read_csv(io.StringIO(text, newline=""), columns)
    except ValidationFailed as exc:
        raise ValidationFailed(f"{path}: {exc}") from exc


async def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    rows = _read(args.file, imports.STAFF_COLUMNS if args.import_command == "staff"
                 else imports.PATIENT_COLUMNS)
    if args.import_command == "staff":
        async with opened(settings) as rt:
            return _finish(await imports.import_staff(rt, rows), args)
    return _finish(await _patients(settings, args, rows), args)


async def _patients(settings: Settings, args: argparse.Namespace, rows: Any) -> imports.Report:
    from host.web.app import create_app

    secret = password("SHIFO_IMPORT_PASSWORD", f"password of {args.login}: ")
    app = create_app(settings)
    runtime = app.state.runtime
    await runtime.start()  # the app's own lifespan, run here: the client calls it in process
    try:
        async with imports.asgi_client(app) as client:
            return await imports.import_patients(client, rows, login=args.login, password=secret,
                                                 facility=args.facility, concurrency=args.concurrency)
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

