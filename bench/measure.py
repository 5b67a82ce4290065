"""One measured wrk run with its bookkeeping: rows counted before and after, errors checked.

Rows added must equal the 2xx answers wrk counted (times the rows each adds), give or take the
requests in flight when wrk stopped (at most one per connection): wrk closes those connections
without counting them, but the server may still commit them. Anything else is a failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from loadgen import run_wrk
from workloads import WORKLOADS

PENDING = "SELECT count(*) FROM shifo_outbox WHERE delivered_at IS NULL"


class Counter:
    """Counts a path's rows (``table``: entries, prescriptions) and outbox rows; waits until the
    server and the relay are quiet.

    ``relay=False`` is for a contender that runs no relay: nothing delivers its events, so they
    are not waited for; :meth:`discard_pending` marks them delivered once it is done, so the next
    contender does not pay for them."""

    def __init__(self, conn: asyncpg.Connection, outbox: str, relay: bool = True,
                 table: str = "medcard_entries") -> None:
        self.conn, self.outbox, self.relay, self.table = conn, outbox, relay, table

    async def counts(self) -> tuple[int, int, int]:
        entries = await self.conn.fetchval(f"SELECT count(*) FROM {self.table}")
        outbox = await self.conn.fetchval(f"SELECT count(*) FROM {self.outbox}")
        pending = await self.conn.fetchval(PENDING) if self.outbox == "shifo_outbox" and self.relay else 0
        return entries, outbox, pending

    async def discard_pending(self) -> None:
        if not self.relay:
            await self.conn.execute("UPDATE shifo_outbox SET delivered_at = now() WHERE delivered_at IS NULL")

    async def settle(self, patience: float = 180) -> tuple[int, int, int]:
        """Counts once nothing changes any more and the relay has delivered everything."""
        deadline = time.monotonic() + patience
        last = await self.counts()
        while True:
            await asyncio.sleep(0.3)
            now = await self.counts()
            if now == last and now[2] == 0:
                return now
            if time.monotonic() > deadline:
                raise RuntimeError(f"rows still changing or outbox undelivered after {patience}s: {now}")
            last = now


async def checkpoint(conn: asyncpg.Connection) -> bool:
    """Start every measured run right after a checkpoint, so each starts from the same state: the
    dirty pages of the runs before it (the other contender's too) are written before it rather
    than during it, and every run pays the full-page images that follow a checkpoint. A requested
    checkpoint also restarts ``checkpoint_timeout``, so no timed one falls inside a 30 s run.
    False where the role may not (PostgreSQL 15: superuser or ``pg_checkpoint``)."""
    try:
        await conn.execute("CHECKPOINT")
    except asyncpg.InsufficientPrivilegeError:
        return False
    return True


async def analyze(conn: asyncpg.Connection) -> float:
    """Fresh planner statistics before every run; returns the seconds it took. This machine's
    PostgreSQL runs without autovacuum, so nothing else ever analyzes the tables the runs fill: a
    card's page was then planned as a bitmap scan of all the patient's rows and a sort (2,000 rows,
    4 ms, growing with every write run) instead of 31 rows read backwards along the timeline index
    (0.08 ms), and which plan each server connection chose varied from run to run. Both contenders
    run the same selects on the same tables, so both get the same statistics."""
    started = time.perf_counter()
    await conn.execute("ANALYZE")
    return round(time.perf_counter() - started, 2)


async def probe(url: str, token: str, facility: str, patient: str, counter: Counter,
                performed_at: str, seeded: int = 30) -> list[str]:
    """One POST (201, one entry and one outbox row added) and one GET (200, up to 30 items: at least
    the ``seeded`` entries plus the probe's own)."""
    problems = []
    headers = {"Authorization": f"Bearer {token}", "X-Facility": facility}
    path = f"{url}/api/v1/medcard/patients/{patient}/entries"
    before = await counter.settle()
    async with httpx.AsyncClient(timeout=10) as client:
        r = await client.post(path, headers=headers, json={
            "kind": "indicator", "code": "pulse", "value": 72, "performed_at": performed_at})
        if r.status_code != 201:
            problems.append(f"probe POST answered {r.status_code}: {r.text[:300]}")
        after = await counter.settle()
        if (after[0] - before[0], after[1] - before[1]) != (1, 1):
            problems.append(f"probe POST added {after[0] - before[0]} entries, "
                            f"{after[1] - before[1]} outbox rows (want 1, 1)")
        r = await client.get(path, headers=headers, params={"limit": 30})
        items = len(r.json().get("items", [])) if r.status_code == 200 else -1
        if not min(30, seeded + 1) <= items <= 30:
            problems.append(f"probe GET answered {r.status_code} with {items} items "
                            f"(want {min(30, seeded + 1)} to 30)")
    return problems


async def _wrk(wrk: str, url: str, mode: str, seconds: float, orders: Callable[[float], Path] | None,
               **wrk_args: Any) -> dict[str, Any]:
    """One wrk run; the ``rx`` mode gets a fresh file of signed orders (deleted afterwards)."""
    bodies = orders(seconds) if mode == "rx" and orders is not None else None
    try:
        return await run_wrk(wrk, url, mode, seconds=seconds, bodies=bodies, **wrk_args)
    finally:
        if bodies is not None:
            bodies.unlink(missing_ok=True)


async def measured(wrk: str, url: str, path: str, connections: int, *, warmup: float, duration: float,
                   counter: Counter, orders: Callable[[float], Path] | None = None,
                   **wrk_args: Any) -> dict[str, Any]:
    """Warm up, then measure; returns wrk's figures, the row counts and any problems found.
    ``orders(seconds)`` writes the signed orders an ``rx`` run of that length may send."""
    load = WORKLOADS[path]
    mode = load.mode
    analyzed = await analyze(counter.conn)
    if warmup > 0:
        await _wrk(wrk, url, mode, warmup, orders, connections=connections, **wrk_args)
    before = await counter.settle()
    checkpointed = await checkpoint(counter.conn)
    result: dict[str, Any] = await _wrk(wrk, url, mode, duration, orders, connections=connections, **wrk_args)
    result["checkpoint"], result["analyze_seconds"] = checkpointed, analyzed
    result["relay_pending_at_end"] = (await counter.counts())[2]
    after = await counter.settle()
    added, outbox_added = after[0] - before[0], after[1] - before[1]
    result.update(rows_added=added, outbox_added=outbox_added)
    problems = []
    if result["errors"]:
        socket = result["connect"] + result["read"] + result["write"]
        problems.append(f"{result['errors']} errors (non-2xx {result['status']}, socket {socket}, "
                        f"timeout {result['timeout']})")
    expected = result["ok"] * load.rows
    if not 0 <= added - expected <= connections * load.rows:
        problems.append(f"{added} {counter.table} rows added for {result['ok']} successful requests "
                        f"({load.rows} each)")
    if outbox_added != added:
        problems.append(f"{outbox_added} outbox rows added for {added} entries")
    result["in_flight"] = (added - expected) // load.rows if load.rows else 0
    result["problems"] = problems
    return result
