"""``/metrics`` in the Prometheus text format, and the middleware that times every request.

Request counts and latency are process-wide series labelled by module and route template (never
by raw path, so ids do not explode the label space). The rest is read from the database at scrape
time: outbox lag and parked events, sign-in failures and lockouts (from the audit trail),
installations overdue and due soon, and users due for review. The messaging series (the adapters
in use, the stream, each consumer group's lag and redeliveries) come from
:mod:`host.operator.messaging_status`; this process's deliveries per consumer (failures, latency)
from :mod:`host.delivery_metrics`; and the standard ``process_*`` series (CPU seconds, resident
memory, open file descriptors, start time) from prometheus_client's process collector.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from litestar import Request, Response, get
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from core import clock
from core.errors import ShifoError
from host import audit_key, delivery_metrics
from host.audit import audit_log
from host.audit_ledger import number
from host.operator import calendar, config, messaging_status, review, sla
from host.operator.logs import request_id_of, request_id_var
from host.pluginapi import public
from host.runtime import Runtime
from host.web import problems, unreachable
from ports.storage import Storage

access = logging.getLogger("shifo.access")
log = logging.getLogger("shifo.web")
CONTENT_TYPE = "text/plain; version=0.0.4"  # Litestar adds "; charset=utf-8" to text/ types
REQUESTS = CollectorRegistry()
REQUEST_COUNT = Counter("shifo_http_requests", "HTTP requests answered",
                        ["module", "route", "method", "status"], registry=REQUESTS)
REQUEST_LATENCY = Histogram("shifo_http_request_duration_seconds", "Time to answer an HTTP request",
                            ["module", "route", "method"], registry=REQUESTS)
ProcessCollector(registry=REQUESTS)  # process_*: this worker's CPU, memory, open fds, start time


def module_of(route: str) -> str:
    parts = route.split("/")
    return parts[3] if route.startswith("/api/v1/") and len(parts) > 3 else "host"


def _series(module: str, route: str, method: str, status: int) -> tuple[Any, Any]:
    """The request counter's and latency histogram's series for these labels, looked up once."""
    key = (module, route, method, status)
    found = _SERIES.get(key)
    if found is None:
        found = _SERIES[key] = (REQUEST_COUNT.labels(module, route, method, str(status)),
                                REQUEST_LATENCY.labels(module, route, method))
    return found


_SERIES: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}  # route templates: a bounded set


def middleware(app: ASGIApp) -> ASGIApp:
    """Give each request an id (echoed in ``X-Request-Id``), then count, time and log it (one JSON
    line carrying that id). One layer for all of it: every layer costs each request a little."""

    async def timed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started, status = time.perf_counter(), [0]
        rid = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            try:
                await app(scope, receive, watch)
            except Exception as exc:
                if status[0]:  # the answer has begun: nothing more can be sent
                    raise
                await answer(scope, receive, watch, exc)
        finally:
            status[0] = status[0] or 500
            took = time.perf_counter() - started
            route = str(scope.get("path_template") or "unrouted")
            module, method = module_of(route), scope.get("method", "")
            count, latency = _series(module, route, method, status[0])
            count.inc()
            latency.observe(took)
            access.info("%s %s %s", method, route, status[0], extra={
                "shifo_module": module, "status": status[0], "ms": round(took * 1000, 2)})
            request_id_var.reset(token)

    return timed


async def answer(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    """The problem response for an exception a later middleware raised (the route's own are
    answered nearer the handler). Answered here, not by Litestar's outermost handler, so the
    answer carries ``X-Request-Id``, its log line the id, and the access line its real status."""
    request: Request[Any, Any, Any] = Request(scope, receive)
    handler = next(problems.HANDLERS[k] for k in type(exc).__mro__ if k in problems.HANDLERS)
    response = handler(request, exc)
    await response.to_asgi_response(app=None, request=request)(scope, receive, send)


async def clock_skew(storage: Storage) -> float | None:
    """Seconds the database clock is ahead of ours; None where it cannot be told (SQLite shares ours)."""
    async with storage.transaction(readonly=True) as tx:
        if tx.dialect != "postgresql":
            return None
        before = time.time()
        db_now = (await tx.execute(text("SELECT extract(epoch FROM clock_timestamp())"))).scalar_one()
        return float(db_now) - (before + time.time()) / 2


class _Snapshot(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


async def snapshot(runtime: Runtime) -> list[Metric]:
    cfg, now = config.of(runtime.settings), clock.utcnow()
    pending, age = await runtime.storage.outbox.lag()
    parked = len(await runtime.storage.outbox.failures(parked_only=True))
    async with runtime.storage.transaction(readonly=True) as tx:
        outcomes = dict((await tx.execute(select(audit_log.c.outcome, func.count()).where(
            audit_log.c.action.like("auth/%")).group_by(audit_log.c.outcome))).all())
        overdue = await sla.overdue_count(tx, now.date())
        soon = await sla.due_soon_count(tx, await calendar.load(tx, cfg.week_days), now.date(),
                                        cfg.due_soon_working_days)
        users = await review.inventory(tx, runtime.identity, cfg, now)
    due = sum(1 for u in users if {"review_due", "certification_lapsed"} & set(u.flags))
    skew = await clock_skew(runtime.storage)

    def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, value=value)

    def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
        return CounterMetricFamily(name, doc, value=value)

    out: list[Metric] = [
        gauge("shifo_outbox_pending", "Outbox events not yet delivered", pending),
        gauge("shifo_outbox_lag_seconds", "Age of the oldest undelivered outbox event", age),
        gauge("shifo_outbox_parked", "Event deliveries parked after repeated failures", parked),
        counter("shifo_login_failures", "Failed sign-ins (audit trail)", outcomes.get("failed", 0)),
        counter("shifo_login_lockouts", "Sign-ins refused while locked (audit trail)",
                outcomes.get("refused:423", 0)),
        counter("shifo_login_throttled", "Sign-ins refused as too frequent", outcomes.get("refused:429", 0)),
        gauge("shifo_installations_overdue", "Open installation requests past their due date", overdue),
        gauge("shifo_installations_due_soon", "Open installation requests due within the operator's "
              "due_soon_working_days (3 unless set), not yet overdue", soon),
        gauge("shifo_users_due_for_review", "Users whose access certification is due or lapsed", due),
    ]
    if skew is not None:
        out.append(gauge("shifo_clock_skew_seconds", "Database clock minus this host's clock", skew))
    if (key := audit_key.key_of(runtime.settings)) is not None:  # kept outside the database by the scraper
        newest = await number(runtime.storage, key)
        out.append(gauge("shifo_audit_checkpoint", "The newest audit checkpoint's number under the audit "
                         "key: it never falls unless checkpoints were removed", newest))
    return out


def _db_up(up: int) -> GaugeMetricFamily:
    return GaugeMetricFamily("shifo_db_up", "1 if the database answered this scrape, else 0", value=up)


_warned = [-60.0]  # when a scrape that failed for another reason was last logged


def _unread(exc: Exception) -> list[Metric]:
    """The database's series when the scrape could not read them: ``shifo_db_up 0`` only if the
    database did not answer (a connection or server fault, which the storage logs once per
    outage, or no answer in time). Every connection busy, or a bug, leaves them out, logged at
    most once a minute."""
    if isinstance(exc, TimeoutError) or unreachable.lost(exc):
        return [_db_up(0)]
    if time.monotonic() - _warned[0] >= 60.0:
        _warned[0] = time.monotonic()
        log.warning("metrics without the database's series: %s: %s", type(exc).__name__, exc,
                    exc_info=not isinstance(exc, ShifoError))  # a bug's traceback
    return []


@get("/metrics", opt=public(), tags=["monitoring"], media_type=CONTENT_TYPE)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus text exposition: request series of this process plus the deployment's state."""
    runtime: Runtime = request.app.state.runtime
    try:  # the deployment's state is read from the database
        async with asyncio.timeout(runtime.settings.pool_timeout_seconds * 2 + 1):
            families = [*await snapshot(runtime), _db_up(1)]
    except Exception as exc:
        families = _unread(exc)
    families += await messaging_status.families(runtime)
    scrape = CollectorRegistry()
    scrape.register(_Snapshot(families))
    body = generate_latest(REQUESTS) + generate_latest(delivery_metrics.REGISTRY) + generate_latest(scrape)
    return Response(body, media_type=CONTENT_TYPE)
