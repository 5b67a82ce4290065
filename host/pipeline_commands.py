"""``shifo relay`` and ``shifo consume``: the event pipeline's parts as processes of their own.

``shifo serve`` runs what the settings say (``SHIFO_RUN_RELAY``, ``SHIFO_RUN_CONSUMERS``) beside
the web server; these run one part without the web server, until SIGTERM or SIGINT, then stop
cleanly (batches being handled finish and are acknowledged). ``relay`` also runs the process's
background work (the access review, audit checkpoints). ``consume`` needs a durable messaging
adapter: with the in-process adapter the relay delivers to the module consumers itself.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import Any

from core.errors import ConfigurationError
from host import adapters
from host.runtime import Runtime
from host.settings import Settings

log = logging.getLogger("shifo.pipeline")


def add_parsers(sub: Any) -> None:
    sub.add_parser("relay", help="run the outbox relay and background work (no web server)")
    sub.add_parser("consume", help="run the module consumers (durable messaging only, no web server)")


async def _until_signal(runtime: Runtime, what: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.start()
        log.info("%s running (messaging %s); SIGTERM or SIGINT stops it", what, runtime.messaging.name)
        print(f"shifo: {what} running; stop with SIGTERM or Ctrl-C", flush=True)
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runtime.stop()
    print(f"shifo: {what} stopped", flush=True)
    return 0


async def preflight(settings: Settings) -> None:
    """Before ``shifo serve`` binds its port: a durable broker must answer (else one line, exit 1,
    rather than a traceback from the server's start-up)."""
    if settings.messaging_adapter == "inprocess":
        return
    messaging = await adapters.create("messaging", settings.messaging_adapter, settings)
    try:
        if messaging.durable:
            await messaging.ping()
    finally:
        await messaging.close()


def _logs() -> None:
    from host.operator import logs

    logs.configure()


async def cmd_relay(settings: Settings, args: argparse.Namespace) -> int:
    runtime = Runtime.plan(settings.with_(run_relay=True, run_consumers=False))
    _logs()
    return await _until_signal(runtime, "relay")


async def cmd_consume(settings: Settings, args: argparse.Namespace) -> int:
    runtime = Runtime.plan(settings.with_(run_relay=False, run_consumers=True))
    await runtime.open()
    try:
        if not runtime.messaging.durable:
            raise ConfigurationError(
                f"the {runtime.messaging.name} messaging adapter is not durable: its relay delivers to "
                "the module consumers (shifo relay or shifo serve). Set SHIFO_MESSAGING_ADAPTER=nats "
                "to run consumers as processes of their own.")
        await runtime.messaging.ping()  # a broker out of reach: one line now, not a retry loop
    except BaseException:
        await runtime.stop()
        raise
    _logs()
    return await _until_signal(runtime, "consumers")


COMMANDS = {"relay": cmd_relay, "consume": cmd_consume}
