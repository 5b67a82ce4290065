"""Liveness and readiness, unauthenticated, for load balancers and the operator's monitoring."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar import Request, Response, get

from host.operator.metrics import clock_skew
from host.pluginapi import public
from host.runtime import Runtime


@get("/health", opt=public(), tags=["monitoring"], sync_to_thread=False)
def health() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@get("/ready", opt=public(), tags=["monitoring"])
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The database and messaging answer within the fail-fast time; reports the database
    connections held, the outbox lag and parked events. 503 while a dependency is down."""
    runtime: Runtime = request.app.state.runtime
    limit = runtime.settings.pool_timeout_seconds + 1.0
    checks: dict[str, Any] = {}
    ok = True
    for name, probe in (("database", runtime.storage.ping), ("messaging", runtime.messaging.ping)):
        started = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                await probe()
            checks[name] = {"status": "ok", "ms": round((time.perf_counter() - started) * 1000, 2)}
        except Exception as exc:
            ok = False
            checks[name] = {"status": "down", "error": type(exc).__name__}
    connections = getattr(runtime.storage, "connections", None)  # the SQL adapter's, on PostgreSQL
    if (held := connections() if connections is not None else None) is not None:
        checks["database"]["connections"] = held
    if checks["database"]["status"] == "ok":
        try:
            async with asyncio.timeout(limit):
                checks.update(await _state(runtime))
        except Exception as exc:  # the database went away since the ping
            ok = False
            checks["database"] = {**checks["database"], "status": "down", "error": type(exc).__name__}
    body = {"status": "ready" if ok else "unavailable", "checks": checks}
    return Response(body, status_code=200 if ok else 503,
                    headers=None if ok else {"Retry-After": "2"})


async def _state(runtime: Runtime) -> dict[str, Any]:
    pending, age = await runtime.storage.outbox.lag()
    parked = len(await runtime.storage.outbox.failures(parked_only=True))
    skew = await clock_skew(runtime.storage)  # None where the database shares our clock
    return {"outbox": {"pending": pending, "oldest_seconds": round(age, 3), "parked": parked},
            "clock": {"skew_seconds": None if skew is None else round(skew, 3),
                      "measurable": skew is not None}}
