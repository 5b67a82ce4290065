"""The relay's cost apart from the HTTP load and its noise: CPU per event and per claim.

    .venv/bin/python bench/run.py --quick                 # once: prepares and seeds the database
    .venv/bin/python bench/relay_cost.py --path exam --batches 4,16,64 --rounds 3
    .venv/bin/python bench/relay_cost.py --path rx --batches 4,16,64 --rounds 3

For each round and claim size: the project serves ``--path`` under wrk with its relay off
(``SHIFO_RUN_RELAY=0``), which leaves the events pending; then this process drains them with the
project's own relay (every module's handlers, claims of at most that many events, from the floor
the live relay would claim above), alone on the machine, reading its own CPU time and that of the
database's PostgreSQL backends (``/proc``, through ``cluster.CpuMeter`` as ``scaleout.py`` does).
A pass here is what the live relay does with a backlog: the same claims, handlers and marks,
without the gather window's waits.

Prints medians over the rounds per claim size (Python and PostgreSQL CPU per event and per claim),
then a least-squares fit of CPU per claim = fixed + per event x events: what a claim costs
whatever its size, and what each event adds. Under load the relay's claims hold about as many
events as commits arrive in its gather window, so the fixed part is what gathering amortises.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import run
import seed
from cluster import CpuMeter
from loadgen import ensure_wrk, run_wrk
from servers import serving
from signed_orders import Orders
from sqlalchemy import text
from workloads import WORKLOADS

from host.relay import Relay
from host.runtime import Runtime
from host.settings import Settings

FLOOR = text("SELECT coalesce(min(seq), 0) - 1 FROM shifo_outbox WHERE delivered_at IS NULL")


async def fill(args: argparse.Namespace, db_url: str, token: str) -> None:
    """The path under wrk with the relay off: its events stay pending. ``rx`` sends orders signed
    for this run (``bench/signed_orders.py``) by a dev CA the server is told to trust."""
    env = {"SHIFO_DATABASE_URL": db_url, "SHIFO_TOKEN_TTL_SECONDS": "86400", "SHIFO_RUN_RELAY": "0",
           "SHIFO_SIGNATURE_ADAPTER": "dev", "SHIFO_SIGNATURE_DEV_KEYS_DIR": str(args.keys)}
    performed_at = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rate = run.parse_args([]).rx_rate  # signed orders a second, as run.py writes them
    bodies = args.orders.write(int(args.seconds * rate) + 100) if args.path == "rx" else None
    async with serving(run.PROJECT_APP, args.port, env, run.RESULTS / "relay-cost-servers.log") as (url, _):
        await run_wrk(ensure_wrk(), url, WORKLOADS[args.path].mode, seconds=args.seconds, threads=1,
                      connections=16, ids_file=args.ids, token=token, facility=seed.FACILITY,
                      performed_at=performed_at, bodies=bodies)


async def drain(db_url: str, database: str, batch: int) -> dict[str, float]:
    """Every pending event, relayed in claims of at most ``batch``; CPU per event and per claim."""
    rt = Runtime.plan(Settings(database_url=db_url, run_relay=False))
    await rt.open()
    try:
        relay = Relay(rt.storage, rt.handlers, None, batch=batch)
        async with rt.storage.transaction(readonly=True) as tx:
            floor = int((await tx.execute(FLOOR)).scalar_one())
        meter = CpuMeter({}, database)  # the database's backends: the relay's connections
        meter.start()
        py, wall = time.process_time(), time.perf_counter()
        events = 0
        while got := await relay.drain(retries=False, after=floor):
            events += got
        py, wall = time.process_time() - py, time.perf_counter() - wall
        pg = sum(meter.stop()["postgres"])
    finally:
        await rt.storage.close()
    claims = max(1, -(-events // batch))  # full claims, the last one short
    return {"events": events, "claims": claims, "py_event_ms": 1e3 * py / max(events, 1),
            "pg_event_ms": 1e3 * pg / max(events, 1), "claim_ms": 1e3 * (py + pg) / claims,
            "wall_event_ms": 1e3 * wall / max(events, 1)}


def fitted(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares of CPU per claim against events per claim: (fixed ms, ms per event)."""
    slope, intercept = statistics.linear_regression([n for n, _ in points], [c for _, c in points])
    return intercept, slope


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--path", choices=("write", "exam", "rx"), default="exam")
    p.add_argument("--batches", default="4,16,64", help="comma-separated claim sizes")
    p.add_argument("--seconds", type=int, default=4, help="wrk seconds that fill the outbox per drain")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--port", type=int, default=8714)
    p.add_argument("--database", default="shifo_bench", help="prepared by a previous bench/run.py")
    p.add_argument("--admin-dsn", default=run.parse_args([]).admin_dsn)
    args = p.parse_args()
    found = sorted(run.RESULTS.glob("*T*Z-patients.txt"))  # run.py's seeded patients
    if not found:
        sys.exit("no seeded database found: run `bench/run.py --quick` first.")
    args.ids = found[-1]
    dsn = f"{args.admin_dsn.rsplit('/', 1)[0]}/{args.database}"
    db_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    async with serving(run.PROJECT_APP, args.port, {"SHIFO_DATABASE_URL": db_url},
                       run.RESULTS / "relay-cost-servers.log") as (url, _):
        async with httpx.AsyncClient(base_url=url) as client:
            token = await seed.login(client)
    args.keys = Path(tempfile.mkdtemp(prefix="shifo-bench-keys-"))  # the dev CA of this run (Orders enrolls)
    conn = await asyncpg.connect(dsn)
    try:
        pinfls = [r["pinfl"] for r in await conn.fetch("SELECT pinfl FROM medcard_patients ORDER BY pinfl")]
    finally:
        await conn.close()
    args.orders = Orders(args.keys, seed.DOCTOR_PINFL, seed.FACILITY, pinfls, run.RESULTS)
    sizes = [int(b) for b in args.batches.split(",")]
    runs: dict[int, list[dict[str, float]]] = {b: [] for b in sizes}
    for r in range(1, args.rounds + 1):
        for b in sizes:
            await fill(args, db_url, token)
            got = await drain(db_url, args.database, b)
            runs[b].append(got)
            print(f"round {r} claims of {b:3d}: {got['events']:6.0f} events, python {got['py_event_ms']:.3f} "
                  f"ms/event, postgres {got['pg_event_ms']:.3f} ms/event, {got['claim_ms']:.2f} ms/claim",
                  flush=True)
    print(f"\n{args.path}: medians of {args.rounds} round(s), CPU of this process (python) and of PostgreSQL")
    print("claim size  python ms/event  postgres ms/event  CPU ms/claim  wall ms/event")
    points = []
    for b in sizes:
        med = {k: statistics.median(x[k] for x in runs[b]) for k in runs[b][0]}
        points.append((min(b, med["events"]), med["claim_ms"]))
        print(f"{b:10d}  {med['py_event_ms']:15.3f}  {med['pg_event_ms']:17.3f}  {med['claim_ms']:12.2f}"
              f"  {med['wall_event_ms']:13.3f}")
    if len(points) > 1:
        fixed, per_event = fitted(points)
        print(f"fit: a claim costs {fixed:.2f} ms of CPU whatever its size, "
              f"plus {per_event:.3f} ms per event")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
