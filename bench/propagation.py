"""Propagation: from a write's 201 to every subscribed module's handler, and to an open patient stream.

    .venv/bin/python bench/propagation.py           # 3 rounds: saturate 10 s, light 20 s, half load 20 s
    .venv/bin/python bench/propagation.py --quick   # 1 round, 4 s + 6 s + 6 s (< 3 min)

A probe writes a diagnosis (three module consumers take one) to its own patient, one at a time,
every ``--interval`` ms, and notes the client's clock when the 201 arrives. The handlers' time is
``shifo_inbox.processed_at`` with nats (stamped when a consumer's transaction takes the event: the
latest of the event's consumers) and the outbox row's ``delivered_at`` in-process (its relay
records no inbox rows; the mark follows the handlers in their transaction); the stream's is when
the patient's SSE message arrives here. All clocks are
this machine's. Loads: the probe alone ("light"), and the probe plus wrk paced at half the rate a
short saturating run reached ("half"). Goal (issue #21): p99 <= 20 ms.

Topology: the nats adapter runs ``--processes`` app processes (default 2): the first takes every
write, the last holds the stream, so every event crosses processes. The in-process adapter runs one
process (its live feed never leaves the process that relayed an event), writes and stream alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import report
from broker import balanced, nats_server
from cluster import PROJECT_APP, project_env, settle
from loadgen import ensure_wrk
from probes import phase
from servers import serving
from world import World, prepare, wrk_post

RESULTS = Path(__file__).parent / "results"
GOAL_MS = 20.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--adapters", default="inprocess,nats")
    p.add_argument("--processes", type=int, default=2, help="app processes with the nats adapter")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--saturate", type=float, default=10, help="seconds of the saturating run")
    p.add_argument("--duration", type=float, default=20, help="seconds of probing per load level")
    p.add_argument("--interval", type=float, default=50, help="ms between a probe's 201 and the next")
    p.add_argument("--connections", type=int, default=16, help="wrk connections of the saturating run")
    p.add_argument("--patients", type=int, default=200)
    p.add_argument("--entries", type=int, default=10)
    p.add_argument("--port", type=int, default=8741)
    p.add_argument("--admin-dsn", default=os.environ.get(
        "BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--database", default="shifo_bench_propagation")
    p.add_argument("--project-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the project (repeatable), e.g. SHIFO_RELAY_GATHER_SECONDS=0")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:  # a short lease TTL (2x the ack wait): consumers share partitions out in seconds
        if not any(e.startswith("SHIFO_NATS_ACK_WAIT_SECONDS=") for e in args.project_env):
            args.project_env.append("SHIFO_NATS_ACK_WAIT_SECONDS=5")
        args.rounds, args.saturate, args.duration, args.patients, args.entries = 1, 4, 6, 50, 3
    return args


async def scenario(wrk: str, args: argparse.Namespace, world: World, conn: asyncpg.Connection,
                   adapter: str, nats_url: str, log: Path, rnd: int) -> list[dict[str, Any]]:
    env = project_env(world.db_url, adapter, nats_url, args.project_env)
    count = args.processes if adapter == "nats" else 1
    broker = nats_url if adapter == "nats" else None
    async with AsyncExitStack() as stack:
        urls = [(await stack.enter_async_context(serving(PROJECT_APP, args.port + k, env, log, 1)))[0]
                for k in range(count)]
        if adapter == "nats":
            waited = await balanced(nats_url, count)
            print(f"round {rnd} nats: consumer leases shared out after {waited:.1f} s", flush=True)
        await settle(conn, broker)
        top = await wrk_post(wrk, urls[0], world, connections=args.connections, seconds=args.saturate)
        await settle(conn, broker)
        out = []
        post_ms = 0.0
        for level, share in (("light", 0.0), ("half", 0.5)):
            r = await phase(wrk, args, world, conn, urls, share * top["rps"], post_ms, broker)
            post_ms = post_ms or r["post_ms"]
            r |= {"adapter": adapter, "processes": count, "level": level, "round": rnd,
                  "max_rps": top["rps"], "load_share": r["load_rps"] / top["rps"]}
            out.append(r)
            print(f"round {rnd} {adapter:<9} x{count} {level:<5} load {r['load_rps']:6.1f}/s "
                  f"({100 * r['load_share']:3.0f}% of {top['rps']:.0f})  handlers p50/p99 "
                  f"{r['handler_p50']:6.1f}/{r['handler_p99']:6.1f} ms  stream "
                  f"{r['stream_p50']:6.1f}/{r['stream_p99']:6.1f} ms  probes {r['probes']} "
                  f"({r['consumers']} consumers) unhandled {r['unhandled']} "
                  f"not streamed {r['not_streamed']}  load avg {os.getloadavg()[0]:.1f}", flush=True)
    return out


PAIRS = (("handlers", "handler"), ("stream", "stream"), ("handlers*", "handler_from_insert"),
         ("insert>marked", "insert_to_marked"), ("marked>handlers", "marked_to_handler"))


def table(runs: list[dict[str, Any]]) -> str:
    """Medians over rounds; each pair is p50/p99 in ms."""
    lines = [f"{'adapter':<10}{'procs':>5} {'load':<6}{'writes/s':>9}{'%max':>5}"
             + "".join(f"{title:>16}" for title, _ in PAIRS) + f"{'goal':>6}"]
    for key, rs in report.grouped(runs, "adapter", "processes", "level").items():
        m = report.medians_of(rs, ("load_rps", "load_share",
                                   *(f"{name}_p{q}" for _, name in PAIRS for q in (50, 99))))
        met = max(m["handler_p99"], m["stream_p99"]) <= GOAL_MS
        lines.append(f"{key[0]:<10}{key[1]:>5} {key[2]:<6}{m['load_rps']:>9.1f}{100 * m['load_share']:>5.0f}"
                     + "".join(f"{m[f'{n}_p50']:>9.1f}/{m[f'{n}_p99']:<6.1f}" for _, n in PAIRS)
                     + f"{'met' if met else 'MISS':>6}")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    wrk = ensure_wrk()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log = RESULTS / f"{stamp}-propagation.log"
    print(f"preparing database {args.database} ...", flush=True)
    world = await prepare(args.admin_dsn, args.database, args.patients, args.entries, args.port,
                          RESULTS, log)
    adapters = [a for a in args.adapters.split(",") if a]
    runs: list[dict[str, Any]] = []
    conn = await asyncpg.connect(world.dsn)
    try:
        async with nats_server(log) as (nats_url, _):
            for rnd in range(1, args.rounds + 1):
                turn = rnd % len(adapters)
                for adapter in adapters[turn:] + adapters[:turn]:
                    runs += await scenario(wrk, args, world, conn, adapter, nats_url, log, rnd)
    finally:
        await conn.close()
    print(f"\nmedians of {args.rounds} round(s), {args.duration:g} s of probes each; p50/p99 in ms "
          f"from the client's 201 to the last handler and to the stream on the last process (goal: "
          f"p99 <= {GOAL_MS:g} ms); handlers* from the outbox row's insert; the outbox row's insert to "
          f"its mark as delivered, and that mark to the last handler (probes.py)\n{table(runs)}")
    out = RESULTS / f"{stamp}-propagation.json"
    report.write(out, {"args": vars(args), "runs": runs})
    print(f"results: {out}")
    lost = sum(r["unhandled"] + r["not_streamed"] + r["load_errors"] for r in runs)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
