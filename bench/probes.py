"""The probes of ``propagation.py``: diagnoses written one at a time, timed to their handlers
and to the patient's open stream, while wrk (optionally) writes to other patients at a set pace.

Times: the client's clock when each 201 arrives; the handlers': with nats
``shifo_inbox.processed_at`` (stamped when a consumer's transaction takes the event; the latest of
the event's consumers counts), with the in-process adapter, whose relay records no inbox rows, the
outbox row's ``delivered_at`` (stamped after the handlers, in their transaction); when the
stream's message arrives here. The breakdown uses the outbox row: ``created_at`` (stamped before
the insert) and ``delivered_at`` (stamped by the relay when it marks the row: with the in-process
adapter after the handlers ran, with nats after the broker acknowledged the publish).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
from typing import Any

import asyncpg
import httpx
from cluster import settle
from report import percentile
from seed import FACILITY
from world import World, wrk_post

PACED_CONNECTIONS = 8
DIAGNOSIS = {"code": "J06.9", "rank": "secondary", "verification": "provisional"}
EVENTS = """SELECT o.payload, o.created_at, o.delivered_at,
            coalesce(max(i.processed_at), o.delivered_at) AS handled,
            count(i.event_id) AS consumers
            FROM shifo_outbox o LEFT JOIN shifo_inbox i ON i.event_id = o.event_id
            WHERE o.patient = $1 AND o.event_type = 'medcard.entry_recorded' GROUP BY o.seq"""


class Arrivals:
    """When each entry's message arrived on the stream; ``all_in`` is set once every entry in
    ``awaited`` has arrived."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.awaited: set[str] | None = None
        self.all_in = asyncio.Event()
        self.ready = asyncio.Event()

    def add(self, entry: str, at: float) -> None:
        self.at.setdefault(entry, at)
        self.check()

    def check(self) -> None:
        if self.awaited is not None and self.awaited <= self.at.keys():
            self.all_in.set()


async def listen(url: str, token: str, arrivals: Arrivals) -> None:
    """The patient's stream: when each entry's message arrives (by entry id)."""
    async with httpx.AsyncClient(timeout=None) as client, client.stream(
            "GET", f"{url}/api/v1/patient/stream", headers={"Authorization": f"Bearer {token}"}) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if line.startswith("data:"):
                at = time.time()
                entry = json.loads(line[5:]).get("entry_id")
                if entry:
                    arrivals.add(str(entry), at)
            elif line.startswith("retry:"):
                arrivals.ready.set()


async def probe(url: str, world: World, seconds: float, interval: float) -> dict[str, tuple[float, float]]:
    """Diagnoses one at a time for ``seconds``: entry id -> (time of the 201, request ms)."""
    path = f"{url}/api/v1/medcard/patients/{world.probe_patient}/diagnoses"
    headers = {"Authorization": f"Bearer {world.token}", "X-Facility": FACILITY}
    sent: dict[str, tuple[float, float]] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            body = {**DIAGNOSIS, "performed_at": world.performed_at}
            t0 = time.time()
            r = await client.post(path, headers=headers, json=body)
            t201 = time.time()
            if r.status_code != 201:
                raise RuntimeError(f"probe answered {r.status_code}: {r.text[:300]}")
            sent[str(r.json()["id"])] = (t201, 1000 * (t201 - t0))
            await asyncio.sleep(interval / 1000)
    return sent


async def pace(wrk: str, url: str, world: World, rate: float, answer_ms: float) -> float:
    """The pause (ms) after each answer that holds wrk's connections near ``rate`` writes/s: a
    guess from a light-load answer time, corrected by short trials (answers slow down as the
    load grows, so one correction falls short)."""
    cycle = 1000 * PACED_CONNECTIONS / rate  # each connection: a request, its answer, a pause
    pause = max(0.0, cycle - answer_ms)
    for _ in range(3):
        trial = await wrk_post(wrk, url, world, connections=PACED_CONNECTIONS, seconds=2, pause_ms=pause)
        if abs(trial["rps"] - rate) <= 0.1 * rate:
            break
        answered = 1000 * PACED_CONNECTIONS / max(trial["rps"], 1.0) - pause  # answer time at that load
        pause = max(0.0, cycle - answered)
    return pause


async def phase(wrk: str, args: argparse.Namespace, world: World, conn: asyncpg.Connection,
                urls: list[str], rate: float, post_ms: float, broker: str | None) -> dict[str, Any]:
    """Probe for ``args.duration`` s with wrk paced at ``rate`` writes/s meanwhile (0: none)."""
    arrivals = Arrivals()
    listener = asyncio.create_task(listen(urls[-1], world.patient_token, arrivals))
    await asyncio.wait_for(arrivals.ready.wait(), 10)
    load = None
    if rate:
        pause = await pace(wrk, urls[0], world, rate, post_ms)
        load = asyncio.create_task(wrk_post(wrk, urls[0], world, connections=PACED_CONNECTIONS,
                                            seconds=args.duration + 2, pause_ms=pause))
        await asyncio.sleep(1)
    sent = await probe(urls[0], world, args.duration, args.interval)
    loaded = await load if load else None
    arrivals.awaited = set(sent)
    arrivals.check()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(arrivals.all_in.wait(), 5)
    arrived = arrivals.at
    listener.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listener
    await settle(conn, broker)
    handled, from_commit, relayed, consumed, unhandled = [], [], [], [], 0
    rows = [r for r in await conn.fetch(EVENTS, world.probe_pinfl)
            if str(json.loads(r["payload"])["entry_id"]) in sent]
    consumers = max((r["consumers"] for r in rows), default=0)  # every consumer of a diagnosis
    for row in rows:
        t201 = sent[str(json.loads(row["payload"])["entry_id"])][0]
        if row["handled"] is None or row["consumers"] < consumers:
            unhandled += 1
            continue
        handled.append(1000 * (row["handled"].timestamp() - t201))
        from_commit.append(1000 * (row["handled"] - row["created_at"]).total_seconds())
        relayed.append(1000 * (row["delivered_at"] - row["created_at"]).total_seconds())
        consumed.append(1000 * (row["handled"] - row["delivered_at"]).total_seconds())
    streamed = [1000 * (arrived[e] - t) for e, (t, _) in sent.items() if e in arrived]
    unhandled += len(sent) - len(rows)
    return {"probes": len(sent), "consumers": consumers, "unhandled": unhandled,
            "not_streamed": len(set(sent) - set(arrived)),
            "load_rps": (loaded["rps"] if loaded else 0.0) + len(sent) / args.duration,  # probes too
            "load_errors": loaded["errors"] if loaded else 0,
            "post_ms": statistics.median(v for _, v in sent.values()),
            **{f"{name}_p{q}": percentile(values, q) for name, values in
               (("handler", handled), ("handler_from_insert", from_commit), ("stream", streamed),
                ("insert_to_marked", relayed), ("marked_to_handler", consumed))
               for q in (50, 99)}, "handler_max": max(handled, default=float("nan")),
            "stream_max": max(streamed, default=float("nan"))}
