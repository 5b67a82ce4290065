"""The patient's live stream (Server-Sent Events) of new entries and prescription changes.

``GET /api/v1/patient/stream`` sends each event about the caller's own record as it commits:
``id`` is the outbox ``seq`` (a position), ``event`` the catalogue type, ``data`` its patient-facing
JSON (:mod:`host.patient_feed`). The first message carries only ``retry`` and ``id`` (where the stream
starts), so even a client that has received nothing yet resumes without a gap. A reconnect sends
``Last-Event-ID`` (or ``?last_event_id=`` where headers cannot be set) and gets every later event in
order; without it the stream starts now. Positions only advance to the :mod:`outbox horizon
<host.outbox_horizon>`, below which no row can still commit, so nothing is missed or repeated.

Idle streams hold no database connection: they wait for a commit notification or a short poll.
A stream ends when the client leaves, when the runtime stops (within a poll), after
:data:`LIFETIME_SECONDS`, or when its session ends (:mod:`host.web.session_watch`): at the token's
expiry time, and within ``CHECK_SECONDS`` of a logout or suspension. Each batch is read *before* the
session is re-checked, so nothing committed after a logout is delivered.
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
from host import patient_feed
from host.outbox_horizon import Horizon
from host.pluginapi import Context, own_record
from host.runtime import Runtime
from host.web.guard import bearer_token, client_of
from host.web.session_watch import SessionWatch

log = logging.getLogger("shifo.patient.stream")
RETRY_MS = 3000
KEEPALIVE_SECONDS = 15.0
LIFETIME_SECONDS = 600.0
BATCH = 200
_MAX_POSITION = 2**63 - 1


def horizon_of(request: Request[Any, Any, Any], runtime: Runtime) -> Horizon:
    """The app's one horizon, made on the first stream and woken by every local commit."""
    state = request.app.state
    horizon: Horizon | None = state.get("patient_stream_horizon")
    if horizon is None or horizon.storage is not runtime.storage:
        horizon = state["patient_stream_horizon"] = Horizon(runtime.storage)
        runtime.storage.on_commit(horizon.wake)
    return horizon


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
    horizon = horizon_of(request, runtime)
    async with ctx.storage.transaction() as tx:
        await ctx.audit(tx, "patient.stream/read", patient=pinfl)
    if start is None:
        start = await horizon.read()
    if ctx.principal is None:  # ctx.patient already refused it; this narrows the type
        raise Unauthenticated("sign in to read your record")
    watch = SessionWatch(runtime.identity, ctx.principal, bearer_token(request) or "", client_of(request))
    return ServerSentEvent(_events(runtime, horizon, pinfl, start, watch))


async def _events(runtime: Runtime, horizon: Horizon, pinfl: str, start: int, watch: SessionWatch
                  ) -> AsyncIterator[ServerSentEventMessage]:
    yield ServerSentEventMessage(data=None, id=start, retry=RETRY_MS)
    loop = asyncio.get_running_loop()
    scanned, ends = start, loop.time() + LIFETIME_SECONDS
    quiet_until = loop.time() + KEEPALIVE_SECONDS
    while runtime.started and loop.time() < ends:
        signal = horizon.signal()
        try:
            if not await watch.live():
                return
            upto = await horizon.read()
            more = True
            while more and upto > scanned:
                if not horizon.may_concern(pinfl, scanned):
                    scanned = upto
                    break
                items, read_to = await patient_feed.read(runtime.storage, pinfl, scanned, upto, BATCH,
                                                           feed=runtime.feed)
                if items and not await watch.live(force=True):  # read first, then check: nothing later
                    return
                for item in items:
                    yield ServerSentEventMessage(id=item.seq, event=item.event_type, data=item.data)
                    quiet_until = loop.time() + KEEPALIVE_SECONDS
                more, scanned = read_to < upto, read_to
        except Exception as exc:  # end; the client resumes from its last id
            if isinstance(exc, Unavailable) or faults.lost(exc):  # the storage logs the outage once
                log.debug("patient stream closed: the database cannot be reached (%s)", type(exc).__name__)
            else:
                log.exception("patient stream read failed; closing the stream")
            return
        wait = min(horizon.poll_seconds, quiet_until - loop.time(), ends - loop.time(),
                   watch.seconds_to_check())
        with contextlib.suppress(TimeoutError):  # not wait_for: it can lose a cancellation (3.11)
            async with asyncio.timeout(max(wait, 0.0)):
                await signal.wait()
        if loop.time() >= quiet_until:
            yield ServerSentEventMessage(data=None, comment="keep-alive")
            quiet_until = loop.time() + KEEPALIVE_SECONDS


HANDLERS: list[Any] = [stream]
