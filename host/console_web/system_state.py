"""What the System page shows, gathered from the services ``/ready``, ``shifo status``,
``shifo events`` and ``shifo audit verify`` use. Nothing here reads clinical data: parked
deliveries show their event type and id, never the event, and of the error only its kind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import desc, select

from host import audit_key
from host.audit_ledger import checkpoints
from host.operator import messaging_status
from host.runtime import Runtime
from ports.storage import FailedDelivery

SHOWN = 200  # parked deliveries listed (all are retried by "retry all")


class Probe(msgspec.Struct, frozen=True):
    name: str
    ok: bool
    detail: str  # round trip in ms, or the error's kind


class Parked(msgspec.Struct, frozen=True):
    seq: int
    consumer: str
    event_type: str
    event_id: str
    attempts: int
    error: str  # the exception's kind only: a message could quote the record


class AuditState(msgspec.Struct, frozen=True):
    keyed: bool
    checkpoint: int | None  # the newest checkpoint under this key: the heads last verified intact
    checkpoint_at: datetime | None
    watching: str  # this process's checkpointer: running | stopped | off
    broken_chains: list[int]


async def probe(name: str, ping: Callable[[], Awaitable[None]], seconds: float) -> Probe:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(seconds):
            await ping()
    except Exception as exc:  # shown, not raised: this is the operator's dashboard
        return Probe(name, False, type(exc).__name__)
    return Probe(name, True, f"{(time.perf_counter() - started) * 1000:.1f} ms")


async def health(runtime: Runtime) -> list[Probe]:
    seconds = runtime.settings.pool_timeout_seconds + 1
    return list(await asyncio.gather(probe("database", runtime.storage.ping, seconds),
                                      probe("messaging", runtime.messaging.ping, seconds)))


def adapters(runtime: Runtime) -> list[tuple[str, str, str]]:
    """(port, adapter, a note msgid or '') for each port, and the modules installed."""
    s, bus = runtime.settings, runtime.messaging
    durable = "durable" if getattr(bus, "durable", False) else "in-process: the relay delivers"
    return [("storage", f"{s.storage_adapter} ({getattr(runtime.storage, 'dialect', '?')})", ""),
            ("messaging", str(getattr(bus, "name", s.messaging_adapter)), durable),
            ("identity", s.identity_adapter, ""), ("signature", s.signature_adapter, ""),
            ("modules", ", ".join(runtime.modules.names), "")]


async def backlog(runtime: Runtime) -> dict[str, Any]:
    """The outbox's undelivered events and the broker's view (None while it does not answer)."""
    count, age = await runtime.storage.outbox.lag()
    try:
        status = await messaging_status.read(runtime)
    except Exception:  # the broker away: the health panel says so
        status = None
    return {"undelivered": count, "oldest_seconds": round(age, 1),
            "stream": status.stream if status else None,
            "groups": [(g.group, g.pending, g.ack_pending, g.redelivered) for g in status.groups]
            if status else []}


def parked_row(f: FailedDelivery) -> Parked:
    kind = f.last_error.split(":", 1)[0].splitlines()[0][:60] if f.last_error else ""
    return Parked(f.seq, f.consumer, f.event_type, str(f.event_id), f.attempts,
                  kind if kind.isidentifier() else "error")


async def parked(runtime: Runtime) -> tuple[int, list[Parked]]:
    failed = await runtime.storage.outbox.failures(parked_only=True)
    return len(failed), [parked_row(f) for f in failed[:SHOWN]]


async def audit_state(runtime: Runtime) -> AuditState:
    key = audit_key.key_of(runtime.settings)
    c, newest = checkpoints.c, None
    if key is not None:  # by primary key: cheap however long the trail (which has no index by action)
        async with runtime.storage.transaction(readonly=True) as tx:
            newest = (await tx.execute(select(c.n, c.at).where(c.key_id == key.id)
                                       .order_by(desc(c.n)).limit(1))).first()
    watcher = runtime.checkpointer
    watching = "off" if watcher is None or watcher.key is None or watcher.every <= 0 else (
        "stopped" if watcher.halted else "running")
    return AuditState(keyed=key is not None, checkpoint=newest.n if newest else None,
                      checkpoint_at=newest.at if newest else None, watching=watching,
                      broken_chains=sorted(watcher.broken) if watcher else [])
