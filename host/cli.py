"""The ``shifo`` command: serve, migrate, seed the demo, and inspect a deployment.

Settings come from ``SHIFO_*`` environment variables. Exit codes: 0 ok, 1 an error (database
unreachable, missing or not migrated, a file not readable, a change refused), 2 a configuration
error (both one line on stderr, no traceback: the operator fixes the environment or the input, not
the code), 3 ``audit verify`` found a break. ``status``, ``routes`` and ``accounts list`` take
``--json`` (one document on stdout).

The entry point (``shifo = host.cli:main``): parser, dispatch, exit codes. Commands live apart:
:mod:`host.cli_commands`, the ``*_command(s)`` modules, and :mod:`host.cli_modules` (the modules').
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
from typing import Any

import msgspec
from sqlalchemy.exc import DBAPIError

from core.errors import ConfigurationError, ShifoError, Unavailable
from host import audit_command, cli_commands, cli_modules, demo, migrate_commands, pipeline_commands
from host.console import explain
from host.modules import Modules, discover
from host.operator import account_commands
from host.operator import commands as operator_commands
from host.operator import config as operator_config
from host.operator import logs as operator_logs
from host.settings import Settings


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
    if modules:
        cli_modules.add_parsers(sub, kinds, modules, taken=COMMANDS)
    return p


COMMANDS: dict[str, Any] = {**cli_commands.COMMANDS, "migrate": migrate_commands.run,
                            **pipeline_commands.COMMANDS, **operator_commands.COMMANDS,
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
