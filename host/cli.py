"""The ``shifo`` command: serve, migrate, seed the demo, and inspect a deployment.

Settings come from ``SHIFO_*`` environment variables. Exit codes: 0 ok, 1 an error (database
unreachable, missing or not migrated, a file not readable, a change refused), 2 a configuration
error (both one line on stderr, no traceback: the operator fixes the environment or the input, not
the code), 3 ``audit verify`` found a break. ``status``, ``routes`` and ``accounts list`` take
``--json`` (one document on stdout).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, cast

import msgspec
from sqlalchemy.exc import DBAPIError

from core.errors import ConfigurationError, ShifoError, Unavailable
from host import adapters, audit_command, demo, migrate_commands, pipeline_commands
from host.console import explain, opened, print_json, table
from host.modules import Modules, discover, info_of
from host.operator import account_commands
from host.operator import commands as operator_commands
from host.operator import config as operator_config
from host.operator import logs as operator_logs
from host.pluginapi import CliCommand, CommandContext, Permission
from host.runtime import Runtime
from host.settings import Settings
from ports.storage import Storage

# --- commands ---------------------------------------------------------------------------------


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from host.operator import logs
    from host.web.app import create_app, freeze_heap

    asyncio.run(pipeline_commands.preflight(settings))  # a message broker out of reach: one line
    logs.configure()  # JSON lines on stderr, each with its request id

    if args.workers > 1 and settings.database_url.startswith("sqlite"):
        raise ConfigurationError("several workers need PostgreSQL: SQLite takes one writer process "
                                 "and its relay lock is per process. Use --workers 1.")
    app = create_app(settings)  # configuration errors surface here, before binding the port
    # uvloop and httptools (uvicorn[standard]) did best in the benchmark; our own request log
    # (shifo.access) replaces uvicorn's. Open patient streams are cut after 5 s on shutdown: their
    # clients resume from Last-Event-ID and lose nothing.
    options: dict[str, Any] = {"host": args.host, "port": args.port, "loop": "uvloop", "http": "httptools",
                               "access_log": False, "timeout_graceful_shutdown": 5,
                               "log_config": None}  # uvicorn's lines go to our JSON handler
    if args.workers > 1:  # each worker builds its own app from the same environment
        uvicorn.run("host.web.app:serve_app", factory=True, workers=args.workers, **options)
    else:
        freeze_heap()
        uvicorn.run(app, **options)
    return 0


async def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from host import audit_key, demo_data

    if not settings.audit_key and audit_key.make_key_file(settings.audit_key_file):
        print(f"made the demo's audit key in {settings.audit_key_file} (set SHIFO_AUDIT_KEY in production)")
    async with opened(settings) as rt:
        await rt.migrate()
        report = await demo.seed(rt, args.accounts_file)
    data = await demo_data.seed(settings, report)
    print(table(demo.HEADERS, demo.rows(report)), end="\n\n")
    print(data.summary())
    print(demo.howto(report, base_url=f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"))
    return 0


def cmd_plugins(settings: Settings, args: argparse.Namespace) -> int:
    rows = []
    installed = discover()
    for name, ep in sorted(installed.items()):
        try:
            info = info_of(name, ep.load())
            if info is None:
                raise TypeError("its shifo_module_info hook gives no ModuleInfo")
            version, requires = info.version, ", ".join(info.requires) or "-"
        except Exception as exc:  # a broken package must not hide the others
            version, requires = "?", f"cannot load: {type(exc).__name__}: {exc}"
        rows.append((name, "yes" if name in settings.modules else "no", version, requires, ep.value))
    rows += [(n, "yes", "-", "NOT INSTALLED", "-") for n in settings.modules if n not in installed]
    print(table(("module", "enabled", "version", "requires", "entry point"), rows))
    Runtime.plan(settings)  # the enabled set must also load and satisfy its requirements
    return 0


def cmd_routes(settings: Settings, args: argparse.Namespace) -> int:
    from litestar.routes import HTTPRoute

    from host.web.app import create_app

    app = create_app(settings)
    runtime: Runtime = app.state.runtime
    rows = []
    for route in app.routes:
        handlers = route.route_handlers if isinstance(route, HTTPRoute) else [route.route_handler]
        for handler in handlers:
            methods = sorted(getattr(handler, "http_methods", None) or {"WS"})
            if methods == ["OPTIONS"]:
                continue
            perm = handler.opt.get("permission")
            if isinstance(perm, Permission):  # FHIR routes say their own (several providers, host roles)
                shown = handler.opt.get("permissions") or f"{perm.object}/{perm.action}"
                who = handler.opt.get("who") or (perm.principal if perm.principal != "staff" else
                    ", ".join(sorted(runtime.authorizer.roles_for(perm.object, perm.action))) or "nobody")
            elif perm == "public" or route.path.startswith("/schema"):
                shown, who = "public", "anyone"
            else:
                shown, who = "NONE (refused)", "nobody"
            rows.append((",".join(methods), route.path, shown, who))
    if args.json:
        print_json([{"methods": r[0].split(","), "path": r[1], "permission": r[2], "who": r[3]}
                    for r in sorted(rows, key=lambda r: (r[1], r[0]))])
        return 0
    print(table(("method", "path", "permission", "who"), sorted(rows, key=lambda r: (r[1], r[0]))))
    return 0


async def cmd_events(settings: Settings, args: argparse.Namespace) -> int:
    async with opened(settings) as rt:
        outbox = rt.storage.outbox
        if args.events_command == "retry":
            count = await outbox.retry(args.seq or None)
            print(f"re-queued {count} parked deliver{'y' if count == 1 else 'ies'}; "
                  "a running relay (or, on a durable adapter, the consumers) delivers them soon")
            return 0
        failed = await outbox.failures(parked_only=not args.all)
    if not failed:
        print("no parked deliveries" if not args.all else "no failed deliveries")
        return 0
    print(table(("seq", "consumer", "event type", "event id", "attempts", "parked", "last error"),
                [(f.seq, f.consumer, f.event_type, f.event_id, f.attempts, "yes" if f.parked else "no",
                  f.last_error.splitlines()[0][:120] if f.last_error else "") for f in failed]))
    return 0


async def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    """``verify``: walk the chains and check them against the keyed checkpoints, then checkpoint
    the verified heads; ``checkpoint``: checkpoint the heads that extend the last checkpoint."""
    return await audit_command.run(settings, args)


async def anchored(anchors: Path) -> Any:
    """The ``x509`` signature adapter over a directory of synced trust anchors (offline commands)."""
    chosen = Settings(signature_adapter="x509", signature_path_cache=False,
                      extra={"signature_trust_dir": str(anchors)})
    return await adapters.create("signature", "x509", chosen)


def module_command(module: str, command: CliCommand) -> Any:
    """``shifo <module> <name>``: the module's command (hook ``shifo_cli_commands``), run with the
    ports connected and the module's settings."""

    async def run(settings: Settings, args: argparse.Namespace) -> int:
        if command.offline:  # no ports: e.g. a pharmacy verifying a prescription without a connection
            chosen = Modules.load(settings.modules, sections=settings.extra).settings(module)
            return await command.run(CommandContext(storage=cast(Storage, None), services={},
                                                    settings=chosen, anchored_signature=anchored), args)
        async with opened(settings) as rt:
            return await command.run(CommandContext(
                storage=rt.storage, services=rt.services, settings=rt.modules.settings(module)), args)

    return run


# --- parsing ----------------------------------------------------------------------------------


def parser(modules: Modules | None = None) -> argparse.ArgumentParser:
    """The command line: the host's commands, then each enabled module's (``shifo <module> ...``)."""
    p = argparse.ArgumentParser(prog="shifo", description="Shifo: Electronic Health platform host.")
    p.add_argument("--version", action="version", version=f"shifo {package_version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="command")
    serve = sub.add_parser("serve", help="serve the HTTP API (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: $PORT or 8000")
    serve.add_argument("--workers", type=int, default=1, help="processes (PostgreSQL only if > 1)")
    migrate_commands.add_parser(sub)
    dm = sub.add_parser("demo", help="seed demo facilities and accounts (idempotent)")
    dm.add_argument("--accounts-file", default=demo.ACCOUNTS_FILE,
                    help=f"where the demo passwords are written (default {demo.ACCOUNTS_FILE})")
    sub.add_parser("plugins", help="installed modules, which are enabled, versions, requirements")
    sub.add_parser("routes", help="every route and the permission it declares").add_argument(
        "--json", action="store_true", help="one JSON document instead of the table")
    from host import asyncapi  # the events' contract for subscribers outside Shifo
    sub.add_parser("asyncapi", help="the AsyncAPI document of the events on NATS (JSON on stdout)"
                   ).set_defaults(run=asyncapi.command)
    ev = sub.add_parser("events", help="parked event deliveries").add_subparsers(
        dest="events_command", required=True, metavar="action")
    failed = ev.add_parser("failed", help="list parked deliveries")
    failed.add_argument("--all", action="store_true", help="also deliveries still being retried")
    retry = ev.add_parser("retry", help="re-queue parked deliveries (all unless --seq)")
    retry.add_argument("--seq", type=int, action="append", help="outbox seq to re-queue (repeatable)")
    audit_command.add_parsers(sub)
    pipeline_commands.add_parsers(sub)
    kinds = operator_commands.add_parsers(sub)
    account_commands.add_parsers(sub)
    for info, provided in modules.cli_commands() if modules else []:
        if info.name in COMMANDS:
            raise ConfigurationError(f"module {info.name!r} cannot add commands: "
                                     f"'shifo {info.name}' is the host's")
        actions = sub.add_parser(info.name, help=info.title).add_subparsers(
            dest=f"{info.name}_command", required=True, metavar="action")
        for command in provided:
            options = actions.add_parser(command.name, help=command.help)
            if command.arguments is not None:
                command.arguments(options)
            options.set_defaults(run=module_command(info.name, command))
            if command.name.startswith("import-"):  # also `shifo import <kind>`, beside staff and patients
                kind = command.name.removeprefix("import-")
                if kind in kinds.choices:
                    raise ConfigurationError(f"module {info.name!r} cannot add 'shifo import {kind}': "
                                             "it is taken")
                alias = kinds.add_parser(kind, help=f"{command.help} (the {info.name} module's)")
                if command.arguments is not None:
                    command.arguments(alias)
                alias.set_defaults(run=module_command(info.name, command))
    return p


COMMANDS: dict[str, Any] = {"serve": cmd_serve, "migrate": migrate_commands.run, "demo": cmd_demo,
                            "plugins": cmd_plugins, "routes": cmd_routes, "events": cmd_events,
                            "audit": cmd_audit, **pipeline_commands.COMMANDS, **operator_commands.COMMANDS,
                            **account_commands.COMMANDS}


def package_version() -> str:
    try:
        return version("shifo")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


@contextmanager
def one_line(command: str) -> Iterator[None]:
    """A command at the terminal says what went wrong in its own last line: the storage adapter's
    log ("answering 503 until it returns", meant for a server) would only bury it. ``serve`` keeps
    it. (A library's deprecation warning on import is :func:`host.operator.logs.quiet`'s, for every
    command.)"""
    if command == "serve":
        yield
        return
    storage = logging.getLogger("shifo.storage")
    level = storage.level
    storage.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        storage.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    operator_logs.quiet()  # pyhanko's DSA warning, casbin's and alembic's start-up INFO lines
    if argv == ["--version"]:  # answered even when the environment is broken
        print(f"shifo {package_version()}")
        return 0
    with one_line(argv[0] if argv else ""):
        return run(argv)


def run(argv: list[str]) -> int:
    try:
        try:
            settings = Settings.from_env()
        except msgspec.DecodeError as exc:  # a wrong type, or SHIFO_EXTRA that is not JSON
            raise ConfigurationError(f"bad SHIFO_* setting: {exc}") from exc
        # every command loads the enabled modules first: a bad module or settings section stops it here
        modules = Modules.load(settings.modules, sections=settings.extra)
        try:  # the operator's section too: `status` and the scheduler read it
            operator_config.of(settings)
        except msgspec.ValidationError as exc:
            raise ConfigurationError(f"bad SHIFO_EXTRA setting of 'operator': {exc}") from exc
        if argv and argv[0] in discover() and argv[0] not in modules.names and argv[0] not in COMMANDS:
            raise ConfigurationError(f"the {argv[0]} module is not enabled (SHIFO_MODULES)")
        args = parser(modules).parse_args(argv)
        if getattr(args, "port", 0) is None:
            port = os.environ.get("PORT", "8000")
            if not port.isdigit():
                raise ConfigurationError(f"PORT must be a number, not {port!r}")
            args.port = int(port)
        command = getattr(args, "run", None) or COMMANDS[args.command]
        result = command(settings, args)
        return int(asyncio.run(result) if asyncio.iscoroutine(result) else result)
    except ConfigurationError as exc:
        print(f"shifo: configuration error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the database is unreachable, a file cannot be written, ...
        print(f"shifo: error: {exc}", file=sys.stderr)
        return 1
    except Unavailable as exc:  # the message broker or the database unreachable, or a missing database
        print(f"shifo: error: {explain(exc) or exc.detail}", file=sys.stderr)
        return 1
    except ShifoError as exc:  # a change refused (a grant without its qualification, a wrong password)
        print(f"shifo: error: {exc.detail}", file=sys.stderr)
        return 1
    except DBAPIError as exc:  # a database that does not exist or lacks the tables: say what to do
        print(f"shifo: error: {explain(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
