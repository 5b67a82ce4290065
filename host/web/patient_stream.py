"""The patient's live stream (Server-Sent Events) of new entries and prescription changes.

``GET /api/v1/patient/stream`` sends each event about the caller's own record as it commits:
``id`` is the outbox ``seq`` (a position), ``event`` the catalogue type, ``data`` its patient-facing
JSON (:mod:`host.patient_feed`). The first message carries only ``retry`` and ``id`` (where the stream
starts), so even a client that has received nothing yet resumes without a gap. A reconnect sends
``Last-Event-ID`` (or ``?last_event_id=`` where headers cannot be set) and gets every later event in
order; without it the stream starts now.

How a stream learns of events, and why nothing is missed or repeated:

* It is fed through the messaging port (:mod:`host.live_hub`: one subscription per process): an
  event of the patient, published by the relay of whichever process committed it, wakes the stream
  and the process's outbox :mod:`horizon <host.outbox_horizon>`; so does a local commit. Nothing
  polls the outbox, except with a not durable adapter (in-process), which carries only this
  process's events: there commits of other processes (several workers without a broker, a CLI
  command) are looked for every :data:`OTHER_PROCESSES_SECONDS`.
* What is sent is read from the durable record: the patient's rows in the outbox after the stream's
  position up to the horizon, below which no row can still commit (on PostgreSQL a lower ``seq``
  can commit after a higher one). The position only ever advances to the horizon, so a row that
  commits late is still ahead of it. The read is skipped when the horizon shows no row of the
  patient after the position (``Horizon.may_concern``), so streams of other patients do nothing.
  The event as published is not rendered by itself: the broker sees events in publish order, which
  on PostgreSQL may differ from ``seq`` order, so only the record can say that no lower row of the
  patient is still on its way.
* A stream that got an event the horizon has not reached yet (a hole below it), or that was told
  it may have missed events (``None`` from the subscription, a lost broker connection), looks
  again at the horizon's hole pace until the horizon has passed it, then reads as above.

Idle streams hold no database connection. A stream ends when the client leaves, when the runtime
stops, after :data:`LIFETIME_SECONDS`, or when its session ends (:mod:`host.web.session_watch`): at
the token's expiry time, and within ``CHECK_SECONDS`` of a logout or suspension. Each batch is read
*before* the session is re-checked, so nothing committed after a logout is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Request, get
from litestar.exceptions import ValidationException
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from adapters.storage import faults
from core.errors import Unauthenticated, Unavailable
from host import outbox_horizon, patient_feed
from host.live_hub import Listener, LiveHub
from host.outbox_horizon import Horizon
from host.pluginapi import Context, own_record
from host.runtime import Runtime
from host.web.guard import bearer_token, client_of
from host.web.session_watch import SessionWatch

log = logging.getLogger("shifo.patient.stream")
RETRY_MS = 3000
KEEPALIVE_SECONDS = 15.0
LIFETIME_SECONDS = 600.0
OTHER_PROCESSES_SECONDS = 1.0  # not durable messaging only: see the module docstring
BATCH = 200
_MAX_POSITION = 2**63 - 1


def hub_of(request: Request[Any, Any, Any], runtime: Runtime) -> LiveHub:
    """The app's one live hub and horizon, made on the first stream; local commits wake both."""
    state = request.app.state
    hub: LiveHub | None = state.get("patient_stream_hub")
    if hub is None or hub.horizon.storage is not runtime.storage or hub.messaging is not runtime.messaging:
        horizon = Horizon(runtime.storage)
        hub = state["patient_stream_hub"] = LiveHub(runtime.messaging, horizon, list(runtime.feed),
                                                    lambda: runtime.started)
        runtime.storage.on_commit(hub.committed)
    return hub


def position(header: str | None, query: str | None) -> int | None:
    """The position to resume after; a malformed one is a 400, not a silent restart."""
    source, value = ("Last-Event-ID", header) if header else ("last_event_id", query)
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or int(value) > _MAX_POSITION:
        raise ValidationException(f"{source} must be the id of an event this stream sent (digits)",
                                  extra=[{"key": source, "source": "header" if header else "query",
                                          "message": "expected a non-negative integer"}])
    return int(value)


@get("/stream", opt=own_record("patient.stream"), media_type="text/event-stream",
     summary="Live stream of my record (Server-Sent Events)",
     description="Events: `id` (resume with `Last-Event-ID`), `event` (the catalogue type), `data` "
                 "(JSON: kind, type, event_id, at, status where the record has one, its ids and summary). "
                 "Comment lines keep the connection alive.")
async def stream(
    ctx: Context,
    request: Request[Any, Any, Any],
    last_event_id: Annotated[str | None, Parameter(
        header="last-event-id", required=False, description="The id of the last event received")] = None,
    resume: Annotated[str | None, Parameter(
        query="last_event_id", required=False, description="The same, where headers cannot be set")] = None,
) -> ServerSentEvent:
    pinfl = ctx.patient
    start = position(last_event_id, resume)
    runtime: Runtime = request.app.state.runtime
    hub = hub_of(request, runtime)
    async with ctx.storage.transaction() as tx:
        await ctx.audit(tx, "patient.stream/read", patient=pinfl)
    if ctx.principal is None:  # ctx.patient already refused it; this narrows the type
        raise Unauthenticated("sign in to read your record")
    listener = await hub.join(pinfl)  # first: what commits from now on wakes the stream
    try:
        if start is None:
            start = await hub.horizon.read()
        watch = SessionWatch(runtime.identity, ctx.principal, bearer_token(request) or "", client_of(request))
    except BaseException:
        hub.leave(listener)
        raise
    return ServerSentEvent(_events(runtime, hub, listener, start, watch))


async def _events(runtime: Runtime, hub: LiveHub, listener: Listener, start: int, watch: SessionWatch
                  ) -> AsyncIterator[ServerSentEventMessage]:
    try:
        yield ServerSentEventMessage(data=None, id=start, retry=RETRY_MS)
        async for message in _follow(runtime, hub.horizon, listener, start, watch):
            yield message
    finally:
        hub.leave(listener)


async def _follow(runtime: Runtime, horizon: Horizon, listener: Listener, start: int,
                  watch: SessionWatch) -> AsyncIterator[ServerSentEventMessage]:
    loop = asyncio.get_running_loop()
    pinfl, scanned, ends = listener.pinfl, start, loop.time() + LIFETIME_SECONDS
    quiet_until = loop.time() + KEEPALIVE_SECONDS
    others = float("inf") if runtime.messaging.durable else OTHER_PROCESSES_SECONDS
    while runtime.started and loop.time() < ends:
        listener.signal.clear()  # before reading: what arrives meanwhile rings it again
        try:
            if not await watch.live():
                return
            unsure = listener.unsure
            upto = await horizon.read()
            if unsure and horizon.poll_seconds > outbox_horizon.HOLE_SECONDS:  # settled: no holes
                listener.unsure = False
            while upto > scanned:
                if not horizon.may_concern(pinfl, scanned):
                    scanned = upto
                    break
                items, scanned = await patient_feed.read(runtime.storage, pinfl, scanned, upto, BATCH,
                                                         feed=runtime.feed)
                if items and not await watch.live(force=True):  # read first, then check: nothing later
                    return
                for item in items:
                    yield ServerSentEventMessage(id=item.seq, event=item.event_type, data=item.data)
                    quiet_until = loop.time() + KEEPALIVE_SECONDS
        except Exception as exc:  # end; the client resumes from its last id
            if isinstance(exc, Unavailable) or faults.lost(exc):  # the storage logs the outage once
                log.debug("patient stream closed: the database cannot be reached (%s)", type(exc).__name__)
            else:
                log.exception("patient stream read failed; closing the stream")
            return
        behind = listener.top > scanned or listener.unsure  # the horizon must move on first
        again = min(horizon.poll_seconds, outbox_horizon.HOLE_SECONDS) if behind else others
        wait = min(again, quiet_until - loop.time(), ends - loop.time(), watch.seconds_to_check())
        with contextlib.suppress(TimeoutError):  # not wait_for: it can lose a cancellation (3.11)
            async with asyncio.timeout(max(wait, 0.0)):
                await listener.signal.wait()
        if loop.time() >= quiet_until:
            yield ServerSentEventMessage(data=None, comment="keep-alive")
            quiet_until = loop.time() + KEEPALIVE_SECONDS


HANDLERS: list[Any] = [stream]
