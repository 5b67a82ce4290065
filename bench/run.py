"""The benchmark: the project's write and read paths, an examination and a prescription issue,
against a bare baseline, on PostgreSQL.

    .venv/bin/python bench/run.py                 # 30 s x 3 rounds at 1, 16 and 64 connections
    .venv/bin/python bench/run.py --quick         # 3 s, 1 round: a smoke run
    .venv/bin/python bench/run.py --audit-ratio   # also the project without audit (write path)

See bench/README.md for what is measured and how to read the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import report
import seed
from loadgen import ensure_wrk
from measure import Counter, measured, probe
from servers import serving
from signed_orders import Orders
from workloads import WORKLOADS

from adapters.signature.dev import DevSignature
from host.settings import Settings

HERE = Path(__file__).parent
RESULTS = HERE / "results"
PROJECT_APP = "host.web.app:serve_app()"  # the factory `shifo serve --workers N` runs (JSON logs included)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=30, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=5, help="warm-up seconds before each run")
    p.add_argument("--rounds", type=int, default=3, help="rounds, alternating the contenders' order")
    p.add_argument("--connections", default="1,16,64", help="comma-separated connection counts")
    p.add_argument("--paths", default="write,read,exam,rx",
                   help="write (POST an entry), read (GET 30 entries), exam (POST an examination: a "
                        "diagnosis and three vital signs), rx (POST a signed prescription order: drafted "
                        "and issued)")
    p.add_argument("--rx-rate", type=float, default=1500,
                   help="signed orders written per second of an rx run (each is used once: above this rate, "
                        "requests repeat and answer 409)")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 s, 1 s warm-up, 1 round")
    p.add_argument("--patients", type=int, default=200, help="seeded patients (30 entries each)")
    p.add_argument("--entries", type=int, default=30, help="seeded entries per patient")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (the load generator shares the CPUs)")
    p.add_argument("--workers", type=int, default=2, help="uvicorn workers for every contender")
    p.add_argument("--port", type=int, default=8711)
    p.add_argument("--admin-dsn", default=os.environ.get(
        "BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL role that may create databases (env BENCH_ADMIN_DSN)")
    p.add_argument("--database", default="shifo_bench", help="dropped and created afresh every run")
    p.add_argument("--project-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the project (repeatable), e.g. SHIFO_RUN_RELAY=0")
    p.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE[,KEY=VALUE]",
                   help="also run the project with this environment and report project/NAME")
    p.add_argument("--audit-ratio", action="store_true",
                   help="also run the project with its audit trail replaced by a no-op (noaudit_app.py)")
    args = p.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds = 3, 1, 1
    return args


def _env_pairs(text: str) -> dict[str, str]:
    pairs = [kv.split("=", 1) for kv in text.split(",") if kv.strip()]
    if any(len(kv) != 2 for kv in pairs):
        sys.exit(f"expected KEY=VALUE pairs, got {text!r}")
    known = {f"SHIFO_{f.upper()}" for f in Settings.__struct_fields__}
    for key, _ in pairs:
        if key.strip().startswith("SHIFO_") and key.strip() not in known:
            print(f"WARNING: {key.strip()} is not a setting the project reads (Settings has no "
                  f"{key.strip()[6:].lower()!r}); that variant will behave like the project.", flush=True)
    return {k.strip(): v for k, v in pairs}


def contenders(args: argparse.Namespace, db_url: str, dsn: str, keys: Path) -> list[dict[str, Any]]:
    project_env = {"SHIFO_DATABASE_URL": db_url, "SHIFO_TOKEN_TTL_SECONDS": "86400",
                   "SHIFO_SIGNATURE_ADAPTER": "dev", "SHIFO_SIGNATURE_DEV_KEYS_DIR": str(keys),
                   **_env_pairs(",".join(args.project_env))}
    found = [{"name": "project", "app": PROJECT_APP, "env": project_env, "outbox": "shifo_outbox"},
             {"name": "baseline", "app": "baseline_app:app", "outbox": "bench_outbox",
              "env": {"BENCH_DSN": dsn, "BENCH_KEYS_DIR": str(keys)}}]
    if args.audit_ratio:
        found.append({"name": "no-audit", "app": "noaudit_app:create_app()", "env": project_env,
                      "outbox": "shifo_outbox"})
    for spec in args.variant:
        name, _, env = spec.partition(":")
        found.append({"name": name, "app": PROJECT_APP, "env": {**project_env, **_env_pairs(env)},
                      "outbox": "shifo_outbox"})
    return found


async def main(args: argparse.Namespace) -> int:
    wrk = ensure_wrk()
    conns = [int(c) for c in args.connections.split(",")]
    paths = [p for p in args.paths.split(",") if p]
    if unknown := [p for p in paths if p not in WORKLOADS]:
        sys.exit(f"unknown path(s) {', '.join(unknown)}: choose from {', '.join(WORKLOADS)}")
    server = args.admin_dsn.rsplit("/", 1)[0]
    dsn = f"{server}/{args.database}"
    db_url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log = RESULTS / f"{stamp}-servers.log"
    keys = Path(tempfile.mkdtemp(prefix="shifo-bench-keys-"))  # the dev CA: the project and baseline trust it
    DevSignature(keys).enroll(seed.DOCTOR_PINFL, "Bench Doctor")  # made before either server reads it
    every = contenders(args, db_url, dsn, keys)
    print(f"preparing database {args.database} ...", flush=True)
    await seed.recreate_database(args.admin_dsn, args.database)
    await seed.prepare_schema(Settings.from_env({**os.environ, **every[0]["env"]}), dsn)
    t0 = time.monotonic()
    async with serving(every[0]["app"], args.port, every[0]["env"], log, args.workers) as (url, _):
        async with httpx.AsyncClient(base_url=url) as client:
            token = await seed.login(client)
        ids = await seed.seed_records(url, token, args.patients, args.entries)
    ids_file = RESULTS / f"{stamp}-patients.txt"
    ids_file.write_text("\n".join(ids) + "\n", encoding="utf-8")
    print(f"seeded {len(ids)} patients x {args.entries} entries in {time.monotonic() - t0:.1f}s", flush=True)
    performed_at = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    wrk_args: dict[str, Any] = {"threads": args.threads, "ids_file": ids_file, "token": token,
                "facility": seed.FACILITY, "performed_at": performed_at}
    runs: list[dict[str, Any]] = []
    problems: list[str] = []
    conn = await asyncpg.connect(dsn)
    pinfls = [r["pinfl"] for r in await conn.fetch("SELECT pinfl FROM medcard_patients ORDER BY pinfl")]
    orders = Orders(keys, seed.DOCTOR_PINFL, seed.FACILITY, pinfls, RESULTS)
    wrk_args["orders"] = lambda seconds: orders.write(int(seconds * args.rx_rate) + 100)
    try:
        for rnd in range(args.rounds):
            probed: set[str] = set()
            for n, (path, c) in enumerate((path, c) for path in paths for c in conns):
                # the contenders take turns run by run, not round by round: a slow stretch of
                # this shared machine then hits both sides of a comparison, not one
                turn = (rnd + n) % len(every)
                for who in every[turn:] + every[:turn]:
                    relay = who["env"].get("SHIFO_RUN_RELAY") != "0"
                    counter = Counter(conn, who["outbox"], relay=relay, table=WORKLOADS[path].table)
                    async with serving(who["app"], args.port, who["env"], log, args.workers) as (url, _):
                        if who["name"] not in probed:
                            probed.add(who["name"])
                            problems += [f"{who['name']}: {p}" for p in await probe(
                                url, token, seed.FACILITY, ids[0], Counter(conn, who["outbox"], relay=relay),
                                performed_at, args.entries)]
                        r = await measured(wrk, url, path, c, warmup=args.warmup, duration=args.duration,
                                           counter=counter, **wrk_args)
                    await counter.discard_pending()
                    r.update(round=rnd + 1, contender=who["name"], path=path, connections=c)
                    runs.append(r)
                    problems += [f"{who['name']} {path} c={c} round {rnd + 1}: {p}" for p in r["problems"]]
                    print(f"round {rnd + 1} {who['name']:<9} {path:<5} c={c:<3} {r['rps']:9.1f} req/s"
                          f"  p50 {r['p50_us'] / 1000:6.2f} ms  p99 {r['p99_us'] / 1000:7.2f} ms"
                          f"  errors {r['errors']}  rows +{r['rows_added']}"
                          f"  relay lag {r['relay_pending_at_end']}", flush=True)
    finally:
        await conn.close()
        shutil.rmtree(keys, ignore_errors=True)
    summary = report.medians(runs)
    text, rows = report.table(summary, paths, conns)
    print(f"\nmedians of {args.rounds} round(s), {args.duration:g}s each after {args.warmup:g}s warm-up, "
          f"uvicorn --workers {args.workers} --loop uvloop --http httptools, wrk -t{args.threads}\n{text}")
    print(report.verdict(rows))
    extra = {}
    for who in every[2:]:
        vtext, extra[who["name"]] = report.table(summary, paths, conns, versus=who["name"])
        print(f"\nproject against {who['name']} (ratio = project / {who['name']}):\n{vtext}")
    print("\ncorrectness: " + ("zero errors; rows added = 2xx answers" if not problems else
                               f"{len(problems)} PROBLEM(S):\n  " + "\n  ".join(problems)))
    out = RESULTS / f"{stamp}.json"
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()}
    report.write(out, {
        "started": stamp, "args": vars(args), "machine": machine,
        "runs": runs, "table": rows, "variants": extra, "problems": problems,
        "summary": [{"contender": k[0], "path": k[1], "connections": k[2], **v} for k, v in summary.items()]})
    print(f"results: {out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
