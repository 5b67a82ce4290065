"""Liveness and readiness, unauthenticated, for load balancers and the operator's monitoring."""

from __future__ import annotations

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
    """The database and messaging answer; reports the outbox lag and parked events."""
    runtime: Runtime = request.app.state.runtime
    checks: dict[str, Any] = {}
    ok = True
    for name, probe in (("database", runtime.storage.ping), ("messaging", runtime.messaging.ping)):
        started = time.perf_counter()
        try:
            await probe()
            checks[name] = {"status": "ok", "ms": round((time.perf_counter() - started) * 1000, 2)}
        except Exception as exc:
            ok = False
            checks[name] = {"status": "down", "error": type(exc).__name__}
    if checks["database"]["status"] == "ok":
        pending, age = await runtime.storage.outbox.lag()
        parked = len(await runtime.storage.outbox.failures(parked_only=True))
        checks["outbox"] = {"pending": pending, "oldest_seconds": round(age, 3), "parked": parked}
        skew = await clock_skew(runtime.storage)  # None where the database shares our clock
        checks["clock"] = {"skew_seconds": None if skew is None else round(skew, 3),
                           "measurable": skew is not None}
    body = {"status": "ready" if ok else "unavailable", "checks": checks}
    return Response(body, status_code=200 if ok else 503)
