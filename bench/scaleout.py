"""Write throughput on both messaging adapters, and with 1, 2 and 3 app processes, with CPU per write.

    .venv/bin/python bench/scaleout.py            # 20 s after 5 s warm-up, 3 rounds
    .venv/bin/python bench/scaleout.py --quick    # 5 s after 2 s warm-up, 1 round (< 3 min)

Goal (issue #21): the nats adapter writes at >= 0.9x the in-process adapter's rate, same run, same
process count. See bench/README.md ("Scale-out") for what is counted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import report
from broker import balanced, nats_server
from cluster import PROJECT_APP, CpuMeter, project_env, settle, workers_of
from loadgen import ensure_wrk
from measure import analyze, checkpoint
from servers import serving
from world import World, prepare, wrk_post

RESULTS = Path(__file__).parent / "results"
GOAL = 0.9
ENTRIES = "SELECT count(*) FROM medcard_entries"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=20, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=5)
    p.add_argument("--idle", type=float, default=3, help="seconds of idle CPU measured before each run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=16, help="wrk connections (saturating)")
    p.add_argument("--adapters", default="inprocess,nats")
    p.add_argument("--workers", type=int, default=2, help="processes for the adapter comparison")
    p.add_argument("--processes", default="1,2,3", help="app process counts with the nats adapter")
    p.add_argument("--patients", type=int, default=200)
    p.add_argument("--entries", type=int, default=10, help="seeded entries per patient")
    p.add_argument("--port", type=int, default=8731)
    p.add_argument("--admin-dsn", default=os.environ.get(
        "BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--database", default="shifo_bench_scaleout", help="dropped and created afresh")
    p.add_argument("--project-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the project (repeatable), e.g. SHIFO_RELAY_GATHER_SECONDS=0")
    p.add_argument("--quick", action="store_true", help="5 s after 2 s warm-up, 1 round, fewer patients")
    args = p.parse_args(argv)
    if args.quick:  # a short lease TTL (2x the ack wait): consumers share partitions out in seconds
        if not any(e.startswith("SHIFO_NATS_ACK_WAIT_SECONDS=") for e in args.project_env):
            args.project_env.append("SHIFO_NATS_ACK_WAIT_SECONDS=5")
        args.duration, args.warmup, args.rounds, args.patients, args.entries = 5, 2, 1, 50, 3
    return args


async def one_run(wrk: str, args: argparse.Namespace, world: World, conn: asyncpg.Connection,
                  adapter: str, workers: int, nats: tuple[str, int], log: Path) -> dict[str, Any]:
    env = project_env(world.db_url, adapter, nats[0], args.project_env)
    broker = nats[0] if adapter == "nats" else None
    async with serving(PROJECT_APP, args.port, env, log, workers) as (url, pid):
        procs = workers_of(pid)
        await analyze(conn)
        if args.warmup:
            await wrk_post(wrk, url, world, connections=args.connections, seconds=args.warmup)
        waited = await balanced(nats[0], len(procs)) if adapter == "nats" else 0.0
        await settle(conn, broker)
        await checkpoint(conn)
        meter = CpuMeter({"app": procs, "nats": [nats[1]] if adapter == "nats" else []},
                         world.database, exclude=[conn.get_server_pid()])
        meter.start()  # idle first: what the processes burn with nothing to do (polls, leases)
        await asyncio.sleep(args.idle)
        idle = {g: sum(v) / args.idle for g, v in meter.stop().items()}
        before = await conn.fetchval(ENTRIES)
        meter.start()
        started = time.monotonic()
        r = await wrk_post(wrk, url, world, connections=args.connections, seconds=args.duration)
        pending = await conn.fetchval("SELECT count(*) FROM shifo_outbox WHERE delivered_at IS NULL")
        inbox = await conn.fetchval("SELECT count(*) FROM shifo_inbox")
        consumer_lag = await settle(conn, broker) - inbox  # handled after wrk stopped
        cpu, elapsed = meter.stop(), time.monotonic() - started
    writes = await conn.fetchval(ENTRIES) - before
    per_write = {g: 1000 * sum(s) / max(writes, 1) for g, s in cpu.items()}
    return {"adapter": adapter, "processes": len(procs), "rps": r["rps"], "p50_ms": r["p50_us"] / 1000,
            "p99_ms": r["p99_us"] / 1000, "errors": r["errors"], "writes": writes,
            "relay_lag": pending, "consumer_lag": consumer_lag, "seconds": elapsed,
            "cpu_ms_per_write": per_write,
            "cpu_ms_per_write_total": sum(per_write.values()),
            "app_cpu_per_process": [round(s / elapsed, 3) for s in cpu["app"]],
            "idle_cores": idle, "leases_shared_after": waited}


def summary(runs: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, float]]:
    out: dict[tuple[str, int], dict[str, float]] = {}
    for key, rs in sorted(report.grouped(runs, "adapter", "processes").items()):
        med = report.medians_of(rs, ("rps", "p50_ms", "p99_ms", "cpu_ms_per_write_total"))
        for g in ("app", "nats", "postgres"):
            med[g] = statistics.median(r["cpu_ms_per_write"].get(g, 0.0) for r in rs)
        med["core_per_process"] = statistics.median(statistics.mean(r["app_cpu_per_process"]) for r in rs)
        med["idle_per_process"] = statistics.median(r["idle_cores"]["app"] / r["processes"] for r in rs)
        med["idle_nats"] = statistics.median(r["idle_cores"].get("nats", 0.0) for r in rs)
        out[key] = med
    return out


def table(s: dict[tuple[str, int], dict[str, float]], workers: int) -> str:
    lines = [f"{'adapter':<10}{'procs':>5}{'writes/s':>10}{'p50 ms':>8}{'p99 ms':>8}"
             f"{'CPU ms/write: app':>19}{'nats':>6}{'pg':>6}{'total':>7}"
             f"{'per process: busy':>19}{'idle':>6}{'nats idle':>10}"]
    for (adapter, n), m in s.items():
        lines.append(f"{adapter:<10}{n:>5}{m['rps']:>10.1f}{m['p50_ms']:>8.2f}{m['p99_ms']:>8.2f}"
                     f"{m['app']:>19.2f}{m['nats']:>6.2f}{m['postgres']:>6.2f}"
                     f"{m['cpu_ms_per_write_total']:>7.2f}{m['core_per_process']:>19.2f}"
                     f"{m['idle_per_process']:>6.2f}{m['idle_nats']:>10.2f}")
    base, nats = s.get(("inprocess", workers)), s.get(("nats", workers))
    if base and nats:
        ratio = nats["rps"] / base["rps"]
        lines.append(f"\nnats / inprocess at {workers} processes: {ratio:.2f}x "
                     f"({'meets' if ratio >= GOAL else 'MISSES'} the goal >= {GOAL}x)")
    one = s.get(("nats", 1))
    for (adapter, n), m in s.items():
        if adapter == "nats" and one and n > 1:
            lines.append(f"nats {n} processes / 1 process: {m['rps'] / one['rps']:.2f}x")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    wrk = ensure_wrk()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log = RESULTS / f"{stamp}-scaleout.log"
    print(f"preparing database {args.database} ...", flush=True)
    world = await prepare(args.admin_dsn, args.database, args.patients, args.entries, args.port,
                          RESULTS, log)
    plan = [("inprocess", args.workers)] + [("nats", int(n)) for n in args.processes.split(",") if n]
    if ("nats", args.workers) not in plan:
        plan.append(("nats", args.workers))
    plan = [(a, n) for a, n in plan if a in args.adapters.split(",")]
    runs: list[dict[str, Any]] = []
    conn = await asyncpg.connect(world.dsn)
    try:
        async with nats_server(log) as nats:
            for rnd in range(args.rounds):
                turn = rnd % len(plan)  # alternate the order: a slow stretch hits every contender
                for adapter, n in plan[turn:] + plan[:turn]:
                    r = await one_run(wrk, args, world, conn, adapter, n, nats, log)
                    r["round"] = rnd + 1
                    runs.append(r)
                    print(f"round {rnd + 1} {adapter:<9} x{n}  {r['rps']:8.1f} writes/s  p99 "
                          f"{r['p99_ms']:7.2f} ms  {r['cpu_ms_per_write_total']:5.2f} CPU ms/write  "
                          f"errors {r['errors']}  lag: relay {r['relay_lag']} consumers {r['consumer_lag']}  "
                          f"load avg {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        await conn.close()
    s = summary(runs)
    print(f"\nmedians of {args.rounds} round(s), {args.duration:g} s each, wrk -c{args.connections}, "
          f"{os.cpu_count()} cores (CPU per write: app processes, nats-server, PostgreSQL backends;"
          f" per process: cores each app process kept busy under load, and with no load at all;"
          f" nats idle: the broker's cores with no load)"
          f"\n{table(s, args.workers)}")
    out = RESULTS / f"{stamp}-scaleout.json"
    report.write(out, {"args": vars(args), "runs": runs, "summary": [
        {"adapter": a, "processes": n, **m} for (a, n), m in s.items()]})
    print(f"results: {out}")
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
