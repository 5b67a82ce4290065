"""Liveness and readiness, unauthenticated, for load balancers and the operator's monitoring.

Each public monitoring GET also answers HEAD (many load balancers and uptime checkers probe with
it): the same status and headers, no body. Litestar answers HEAD only where a route declares it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import MediaType, Request, Response, get, head
from litestar.openapi import ResponseSpec
from litestar.utils.helpers import get_enum_string_value

from host.operator import metrics as operator_metrics
from host.operator.metrics import clock_skew
from host.pluginapi import public
from host.runtime import Runtime

ALIVE = {"status": "ok"}


@get("/health", opt=public(), tags=["monitoring"], sync_to_thread=False)
def health() -> dict[str, str]:
    """The process is alive."""
    return dict(ALIVE)


#: /ready's own 503 (its checks, not a problem detail), for the OpenAPI document
DOWN = "A dependency is down: the same checks, `status` \"unavailable\", and `Retry-After`."


@get("/ready", opt=public(), tags=["monitoring"],
     responses={503: ResponseSpec(data_container=dict[str, Any], description=DOWN)})
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The database and messaging answer; reports the database connections held, the outbox lag
    and parked events. 503 while a dependency is down. The whole answer comes within the
    fail-fast time plus a second: the probes run side by side, and the outbox's state gets what
    is left of that time."""
    return await readiness(request)


def bodiless(answer: Response[Any]) -> Response[None]:
    """The HEAD answer to a GET's ``answer``: its status and headers, the length its body would
    have (RFC 9110 9.3.2), and no body."""
    media_type = get_enum_string_value(answer.media_type or MediaType.JSON)
    headers = {**answer.headers, "content-length": str(len(answer.render(answer.content, media_type)))}
    return Response(b"", status_code=answer.status_code, headers=headers,  # type: ignore[arg-type]
                    media_type=media_type)


@head("/health", opt=public(), tags=["monitoring"], sync_to_thread=False)
def health_head() -> Response[None]:
    """``/health`` without the body."""
    return bodiless(Response(dict(ALIVE)))


@head("/ready", opt=public(), tags=["monitoring"], responses={503: ResponseSpec(None, description=DOWN)})
async def ready_head(request: Request[Any, Any, Any]) -> Response[None]:
    """``/ready`` without the body: the same probes, so the same 200 or 503."""
    return bodiless(await readiness(request))


@head("/metrics", opt=public(), tags=["monitoring"])
async def metrics_head(request: Request[Any, Any, Any]) -> Response[None]:
    """``/metrics`` without the body (the scrape still runs: the length is the body's)."""
    return bodiless(await operator_metrics.metrics.fn(request))


HANDLERS = [health, ready, health_head, ready_head, metrics_head]


async def readiness(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """``/ready``'s answer, for GET and HEAD alike."""
    runtime: Runtime = request.app.state.runtime
    deadline = asyncio.get_running_loop().time() + runtime.settings.pool_timeout_seconds + 1.0
    database, messaging = await asyncio.gather(_probe(runtime.storage.ping, deadline),
                                               _probe(runtime.messaging.ping, deadline))
    messaging["adapter"] = getattr(runtime.messaging, "name", "?")
    checks: dict[str, Any] = {"database": database, "messaging": messaging}
    connections = getattr(runtime.storage, "connections", None)  # the SQL adapter's, on PostgreSQL
    if (held := connections() if connections is not None else None) is not None:
        database["connections"] = held
    if database["status"] == "ok":
        try:
            async with asyncio.timeout_at(deadline):
                checks.update(await _state(runtime))
        except Exception as exc:  # the database went away since the ping
            database.update(status="down", error=type(exc).__name__)
    ok = all(check["status"] == "ok" for check in (database, messaging))
    body = {"status": "ready" if ok else "unavailable", "checks": checks}
    return Response(body, status_code=200 if ok else 503,
                    headers=None if ok else {"Retry-After": "2"})


async def _probe(ping: Callable[[], Awaitable[None]], deadline: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout_at(deadline):
            await ping()
    except Exception as exc:
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "ok", "ms": round((time.perf_counter() - started) * 1000, 2)}


async def _state(runtime: Runtime) -> dict[str, Any]:
    pending, age = await runtime.storage.outbox.lag()
    parked = len(await runtime.storage.outbox.failures(parked_only=True))
    skew = await clock_skew(runtime.storage)  # None where the database shares our clock
    return {"outbox": {"pending": pending, "oldest_seconds": round(age, 3), "parked": parked},
            "clock": {"skew_seconds": None if skew is None else round(skew, 3),
                      "measurable": skew is not None}}
