"""The host's own ``shifo`` commands: ``serve``, ``demo``, ``plugins``, ``routes``, ``events`` and
``audit``. Their parsers stay in :mod:`host.cli`, which dispatches here by ``COMMANDS``; a command
that grows its own options and helpers gets a module of its own (``migrate_commands``,
``pipeline_commands``, ``audit_command``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from core.errors import ConfigurationError
from host import audit_command, demo, pipeline_commands
from host.console import opened, print_json, table
from host.modules import discover, info_of
from host.pluginapi import Permission
from host.runtime import Runtime
from host.settings import Settings


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


COMMANDS: dict[str, Any] = {"serve": cmd_serve, "demo": cmd_demo, "plugins": cmd_plugins,
                            "routes": cmd_routes, "events": cmd_events, "audit": cmd_audit}
