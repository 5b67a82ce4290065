"""The clinician's live alert stream (Server-Sent Events): ``GET /api/v1/medcard/alerts/stream``.

Fed through the messaging port, to which the relay publishes every committed event: the stream
subscribes to the card's alert events *first*, then reads the caller's open alerts at the facility
from the database and sends them, then sends live ones. An alert raised in between arrives both
ways and is sent once (by id). Messages: ``event: alert`` (an open alert addressed to the caller,
raised or escalated to them) and ``event: acknowledged`` (one sent before was acknowledged, by
anyone), ``id`` the alert's id, ``data`` the alert as JSON. Messaging is best-effort: when the
subscription says events may have been missed (``None``), the stream reads the open alerts again
and sends those it has not sent, and an ``acknowledged`` for each sent one that is no longer open;
a client that reconnects gets the open alerts again from the database. Never a gap.

The stream ends when the client leaves, when the messaging port closes (shutdown), at the token's
expiry, after :data:`LIFETIME_SECONDS`, or within :data:`CHECK_SECONDS` of the caller signing out
or losing every clinical role at the facility (``ctx.signed_in()``; the staff directory port).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from uuid import UUID

import msgspec
from litestar import get
from litestar.response import ServerSentEvent, ServerSentEventMessage
from sqlalchemy import select

from core.clock import utcnow
from host.pluginapi import Context, Ctx, requires
from plugins.medcard.alert_actions import open_alerts
from plugins.medcard.alert_events import TYPES, Alert, AlertAcknowledged
from plugins.medcard.alerts import views
from plugins.medcard.tables import alerts
from ports.messaging import SERVICE as MESSAGING
from ports.messaging import Messaging, Subscription
from ports.staff import SERVICE as STAFF
from ports.staff import StaffDirectory
from ports.storage import StoredEvent

log = logging.getLogger("shifo.medcard.alerts")
RETRY_MS = 3000
KEEPALIVE_SECONDS = 15.0
CHECK_SECONDS = 5.0
LIFETIME_SECONDS = 600.0
CLINICAL = frozenset({"doctor", "resident", "nurse"})


@get("/alerts/stream", opt=requires("medcard.alert", "read"), media_type="text/event-stream",
     summary="Live stream of my open critical-result alerts (Server-Sent Events)",
     description="First the open alerts addressed to me at this facility, then each one raised or "
                 "escalated to me (`event: alert`) and each acknowledgement of one sent (`event: "
                 "acknowledged`); `id` is the alert id, `data` the alert. Comment lines keep it alive.")
async def stream(ctx: Ctx) -> ServerSentEvent:
    messaging: Messaging = ctx.services[MESSAGING]
    return ServerSentEvent(_events(ctx, messaging, ctx.services[STAFF]))


def _message(kind: str, alert: Alert) -> ServerSentEventMessage:
    return ServerSentEventMessage(event=kind, id=str(alert.id), data=msgspec.json.encode(alert).decode())


class _End:
    """In the queue: the subscription ended (the port closed), so the stream ends."""


async def _pump(subscription: Subscription, queue: asyncio.Queue[StoredEvent | _End | None]) -> None:
    try:
        async for item in subscription:  # None: events may have been missed
            queue.put_nowait(item)
    finally:
        queue.put_nowait(_End())


class _Watch:
    """When the stream must look at its caller again, and whether they may still listen."""

    def __init__(self, ctx: Context, staff: StaffDirectory) -> None:
        assert ctx.principal is not None and ctx.facility is not None
        self.ctx, self.me, self.facility, self.staff = ctx, ctx.principal.id, ctx.facility, staff
        self.expires = ctx.principal.session_expires_at
        loop = asyncio.get_running_loop()
        self.ends, self.next_check = loop.time() + LIFETIME_SECONDS, loop.time() + CHECK_SECONDS

    def seconds(self, quiet_until: float) -> float:
        now = asyncio.get_running_loop().time()
        left = (self.expires - utcnow()).total_seconds() if self.expires else float("inf")
        return max(0.0, min(quiet_until - now, self.next_check - now, self.ends - now, left))

    async def live(self) -> bool:
        now = asyncio.get_running_loop().time()
        if now >= self.ends or (self.expires is not None and utcnow() >= self.expires):
            return False
        if now >= self.next_check:
            self.next_check = now + CHECK_SECONDS
            if not await self.ctx.signed_in():  # logged out, revoked, suspended
                return False
            return bool(await self.staff.roles_at(self.me, self.facility) & CLINICAL)
        return True


async def _events(ctx: Context, messaging: Messaging, staff: StaffDirectory
                  ) -> AsyncIterator[ServerSentEventMessage]:
    watch = _Watch(ctx, staff)
    subscription = await messaging.subscribe(TYPES)  # before the read: nothing falls in between
    queue: asyncio.Queue[StoredEvent | _End | None] = asyncio.Queue()
    pump = asyncio.create_task(_pump(subscription, queue))
    try:
        yield ServerSentEventMessage(data=None, retry=RETRY_MS)
        async for message in _alerts(ctx, watch, queue):
            yield message
    except Exception:  # the database may be away: end; the client reconnects and reads again
        log.exception("alert stream failed; closing it")
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        await subscription.close()


async def _alerts(ctx: Context, watch: _Watch, queue: asyncio.Queue[StoredEvent | _End | None]
                  ) -> AsyncIterator[ServerSentEventMessage]:
    """The open alerts from the database, then live ones, each once; keep-alives when quiet."""
    shown: set[UUID] = set()
    async for message in _reread(ctx, watch, shown):
        yield message
    loop = asyncio.get_running_loop()
    quiet_until = loop.time() + KEEPALIVE_SECONDS
    while True:
        item: StoredEvent | _End | bool | None = False  # False: nothing arrived in time
        with contextlib.suppress(TimeoutError):  # not wait_for: it can lose a cancellation (3.11)
            async with asyncio.timeout(watch.seconds(quiet_until)):
                item = await queue.get()
        if isinstance(item, _End) or not await watch.live():
            return
        sent = False
        if item is None:  # some events may not have reached us: the database says what is open
            async for message in _reread(ctx, watch, shown):
                sent = True
                yield message
        elif isinstance(item, StoredEvent):
            live = await _live(ctx, watch, shown, item)
            if live is not None:
                sent = True
                yield live
        if sent:
            quiet_until = loop.time() + KEEPALIVE_SECONDS
        elif loop.time() >= quiet_until:
            yield ServerSentEventMessage(data=None, comment="keep-alive")
            quiet_until = loop.time() + KEEPALIVE_SECONDS


async def _reread(ctx: Context, watch: _Watch, shown: set[UUID]) -> AsyncIterator[ServerSentEventMessage]:
    """The open alerts not sent yet, and ``acknowledged`` for those sent that are no longer open."""
    async with ctx.storage.transaction() as tx:
        current = await open_alerts(tx, watch.facility, watch.me, audit=ctx.audit)
        gone = shown - {each.id for each in current}
        closed = [] if not gone else [each for each in await views(tx, list((await tx.execute(
            select(alerts).where(alerts.c.id.in_(gone)))).all())) if each.status != "open"]
    for each in closed:
        shown.discard(each.id)
        yield _message("acknowledged", each)
    for each in current:
        if each.id not in shown:
            shown.add(each.id)
            yield _message("alert", each)


async def _live(ctx: Context, watch: _Watch, shown: set[UUID], stored: StoredEvent
                ) -> ServerSentEventMessage | None:
    event = stored.event
    alert = getattr(event, "alert", None)
    if not isinstance(alert, Alert) or alert.facility != watch.facility:
        return None
    if isinstance(event, AlertAcknowledged):
        if alert.id not in shown:
            return None
        shown.discard(alert.id)
        return _message("acknowledged", alert)
    if alert.status == "open" and watch.me in alert.recipients and alert.id not in shown:
        async with ctx.storage.transaction() as tx:
            await ctx.audit(tx, "medcard.alert/read", patient=alert.pinfl, object=str(alert.id))
        shown.add(alert.id)
        return _message("alert", alert)
    return None


HANDLERS = [stream]
